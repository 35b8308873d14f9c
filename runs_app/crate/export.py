"""Export a run as an RO-Crate zip: reads the rows, then calls one builder per section, the record last.

Invariants:
- Any member who can read the run may export it (``workspace_require_role``
  viewer); a non-member gets ``Http404``, an unknown ``inputs`` mode a
  ``ValidationError``. Nothing is written to the database.
- The run's rows are read in a fixed number of queries (run, executions with
  their tasks, asset uses, outputs, events, metrics); asset rows come through
  ``assets_app.selectors``.
- Streams: asset bytes are copied chunk by chunk into ``out`` (a file or a
  temporary file), never held whole in memory.
- Section order is fixed (workflow and code, config, inputs, outputs, actions,
  history, record, metadata); the metadata is written last so it carries
  every file's sha256.
"""

from __future__ import annotations

import zipfile
from typing import IO

from django.core.exceptions import ValidationError
from django.utils import timezone

from assets_app.selectors import asset_list_for_run, asset_use_rows_for_run
from runs_app.choices import AuditAction, Role
from runs_app.models import AuditEvent, Execution, Run
from runs_app.selectors import workspace_require_role

from .builders.actions import actions_add, history_add
from .builders.assets import inputs_add, outputs_add
from .builders.base import CrateBuild, CrateWriter, json_bytes, safe_part
from .builders.root import metadata_write
from .builders.workflow import bundle_add, config_add, workflow_add
from .record import RECORD, record_build

INPUT_MODES = ("include", "reference")


def crate_export(*, user, run: Run, out: IO[bytes], inputs: str = "include", source_url: str = "") -> dict:
    """Write ``run`` as an RO-Crate zip to ``out`` (any member who can read the run).

    ``inputs="include"`` copies the input assets' bytes; ``"reference"`` lists them
    by name and sha256 only. ``source_url`` (the run page) goes into the crate.
    Returns a summary (file count, crate name). Raises ``Http404`` for a
    non-member and ``ValidationError`` for an unknown ``inputs`` mode. Side effect: one
    ``crate.export`` audit event (SPEC §14).
    """
    workspace_require_role(user=user, workspace=run.workspace, role=Role.VIEWER)
    if inputs not in INPUT_MODES:
        raise ValidationError({"inputs": f"inputs must be one of {', '.join(INPUT_MODES)}."})
    run = Run.objects.select_related("experiment", "project", "workspace", "source_blob", "launched_by").get(pk=run.pk)
    executions = list(Execution.objects.filter(run=run).prefetch_related("task_executions").order_by("number"))
    exec_numbers = {e.pk: e.number for e in executions}
    uses = list(asset_use_rows_for_run(run=run))
    outputs = asset_list_for_run(run=run)
    snapshot = dict(run.workflow_snapshot or {})
    crate_name = f"{run.experiment.name} run {run.number}"
    exported_at = timezone.now()

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        build = CrateBuild(writer=CrateWriter(zf))
        workflow_id = workflow_add(build, run=run, snapshot=snapshot)
        bundle_paths = bundle_add(build, snapshot=snapshot, workflow_id=workflow_id)
        params_ids = config_add(build, run=run, snapshot=snapshot)
        input_ids, input_entries = inputs_add(build, uses=uses, inputs=inputs, exec_numbers=exec_numbers)
        output_ids, output_entries = outputs_add(build, outputs=outputs, exec_numbers=exec_numbers)
        actions = actions_add(build, run=run, executions=executions, uses=uses, outputs=outputs, input_ids=input_ids,
                              output_ids=output_ids, workflow_id=workflow_id, params_ids=params_ids)  # fmt: skip
        history_add(build, run=run, exec_numbers=exec_numbers)
        record = record_build(
            run=run,
            executions=executions,
            exec_numbers=exec_numbers,
            uses=uses,
            snapshot=snapshot,
            workflow_id=workflow_id,
            bundle_paths=bundle_paths,
            asset_entries=[*input_entries, *output_entries],
            exported_at=exported_at,
            source_url=source_url,
            inputs=inputs,
        )
        entry = build.writer.write_bytes(RECORD, json_bytes(record))
        build.add_file(RECORD, entry, name="MolExp run record (for re-import)", encodingFormat="application/json")
        metadata_write(build, run=run, executions=executions, crate_name=crate_name, exported_at=exported_at,
                       inputs=inputs, workflow_id=workflow_id, source_url=source_url, actions=actions)  # fmt: skip
    AuditEvent.objects.record(action=AuditAction.CRATE_EXPORT, actor=user, workspace=run.workspace, obj=run,
                              details={"inputs": inputs})  # fmt: skip
    return {"name": crate_name, "files": len(build.writer.files) + 1, "inputs": inputs}


def crate_filename(*, run: Run) -> str:
    """The download name of a run's crate: ``<experiment>-run-<n>.crate.zip`` (ASCII only)."""
    return f"{safe_part(run.experiment.slug)}-run-{run.number}.crate.zip"
