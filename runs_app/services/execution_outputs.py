"""Task outputs of an execution: how they are stored for resume, and how a resume loads them back.

Invariants:
- An output is kept inline as JSON when it is JSON-serializable and at most
  ``INLINE_OUTPUT_BYTES``; otherwise it is pickled into a content-addressed blob through
  ``assets_app.services.blob_store_bytes``; an output that cannot be pickled is recorded
  as unavailable (the resume then runs that task again).
- Only blobs written by this server's workers are unpickled (``output_ref`` of a
  ``TaskExecution`` row, never user input).
- A resume re-uses the outputs of tasks that *succeeded* in the run's previous execution.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

from django.core.files.storage import default_storage

from assets_app import services as asset_services

from ..choices import TaskStatus
from ..models import Execution

#: Outputs up to this size are kept inline as JSON for resume; larger ones are pickled to a blob.
INLINE_OUTPUT_BYTES = 256 * 1024


def output_ref(output: Any) -> dict:
    """The ``TaskExecution.output_ref`` of a task's output: inline JSON, a pickle blob, or why it is unavailable."""
    try:
        text = json.dumps(output, allow_nan=False)
        if len(text) <= INLINE_OUTPUT_BYTES:
            return {"json": output}
    except (TypeError, ValueError):
        pass
    try:
        data = pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        return {"unavailable": f"{type(exc).__name__}: {exc}"[:500]}
    blob = asset_services.blob_store_bytes(data)
    return {"blob": blob.name, "sha256": blob.sha256, "size": blob.size, "format": "pickle"}


def output_load(ref: dict) -> tuple[bool, Any]:
    """``(True, value)`` for an output stored by :func:`output_ref`, ``(False, None)`` when there is none."""
    if not ref:
        return False, None
    if "json" in ref:
        return True, ref["json"]
    if ref.get("format") == "pickle":
        with default_storage.open(ref["blob"], "rb") as fh:
            return True, pickle.loads(fh.read())  # noqa: S301 - our own blob, written by this worker
    return False, None


def outputs_reusable(*, execution: Execution) -> tuple[dict[str, Any], dict[str, dict]]:
    """Outputs of tasks that succeeded in the run's previous execution (for resume)."""
    previous = (
        Execution.objects.filter(run_id=execution.run_id, number__lt=execution.number).order_by("-number").first()
    )
    if previous is None:
        return {}, {}
    outputs, refs = {}, {}
    for task in previous.task_executions.filter(status=TaskStatus.SUCCEEDED):
        ok, value = output_load(task.output_ref or {})
        if ok:
            outputs[task.task_name] = value
            refs[task.task_name] = task.output_ref
    return outputs, refs
