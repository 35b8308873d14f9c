"""RO-Crate section "workflow and code": the workflow file, the code bundle, the profile file and the config.

Files written (RO-Crate 1.1, Workflow Run Crate)::

    workflow/<workflow_source>   the snapshot bytes (ComputationalWorkflow, the crate's mainEntity)
    workflow/<other files>       every other file of the code snapshot (SPEC §12)
    molcfg.yaml  config.json     the profile file as snapshot and the merged config (with config_hash)
    git.diff                     uncommitted changes at launch, when there were some

Invariants:
- The workflow file's bytes are the run's ``SourceBlob`` (what the worker executed).
- Bundle files are read from the content-addressed code store through
  ``assets_app.selectors`` (``code_blob_exists``/``code_blob_open``), streamed; a file
  whose bytes are not in storage is left out (the record's manifest still names it).
- Bundle paths keep Python names (``__init__.py``) and replace only what could
  escape the crate; a bundle file never overwrites a file already written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from assets_app.selectors import code_blob_exists, code_blob_open
from runs_app.models import Run

from ..zipsafety import CHUNK
from .base import CrateBuild, json_bytes, workflow_path


def workflow_add(build: CrateBuild, *, run: Run, snapshot: dict) -> str | None:
    """Write the workflow source as snapshot at launch; returns its crate path (``None`` without a snapshot)."""
    if run.source_blob is None:
        return None
    workflow_id = workflow_path(snapshot.get("workflow_source") or run.experiment.workflow_source or "workflow.py")
    entry = build.writer.write_bytes(workflow_id, bytes(run.source_blob.content))
    build.add_file(
        workflow_id,
        entry,
        **{"@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"]},
        name=snapshot.get("workflow_name") or run.experiment.workflow_name or workflow_id,
        programmingLanguage={"@id": "#python"},
        encodingFormat="text/x-python",
        version=snapshot.get("topology_hash", ""),
        description="The workflow source as snapshot at launch (the bytes the worker executed).",
    )
    return workflow_id


def bundle_add(build: CrateBuild, *, snapshot: dict, workflow_id: str | None) -> dict[str, str]:
    """Write every file of the run's code snapshot under ``workflow/`` (the workflow file is already there).

    Returns manifest path → crate path. A file whose bytes are not in storage is left out
    (the manifest in ``molexp/run.json`` still names it with its sha256).
    """
    w = build.writer
    manifest = snapshot.get("files") if isinstance(snapshot.get("files"), dict) else {}
    written: dict[str, str] = {}
    for rel, item in sorted(manifest.items()):
        if workflow_path(rel) == workflow_id:
            written[rel] = workflow_id
            continue
        # Python names keep their underscores (``__init__.py``); only what could escape is replaced.
        names = [re.sub(r"[^A-Za-z0-9._-]+", "_", p).lstrip(".") or "file" for p in PurePosixPath(rel).parts]
        path = "workflow/" + "/".join(names)
        if path in w.files or not isinstance(item, dict) or not code_blob_exists(sha256=str(item.get("sha256"))):
            continue

        def chunks(sha: str = str(item["sha256"])) -> Iterator[bytes]:
            with code_blob_open(sha256=sha) as fh:
                yield from iter(lambda: fh.read(CHUNK), b"")

        entry = w.write_chunks(path, chunks())
        props: dict[str, Any] = {"name": rel, "description": "Part of the code snapshot at launch (SPEC §12)."}
        if rel.endswith(".py"):
            props.update({"@type": ["File", "SoftwareSourceCode"], "programmingLanguage": {"@id": "#python"},
                          "encodingFormat": "text/x-python"})  # fmt: skip
        build.add_file(path, entry, **props)
        written[rel] = path
    return written


def config_add(build: CrateBuild, *, run: Run, snapshot: dict) -> list[dict]:
    """Write ``molcfg.yaml`` (if snapshot), ``config.json`` and ``git.diff`` (if any).

    Returns the references of the parameter files (each execution's ``object``).
    """
    w = build.writer
    params_ids = []
    if snapshot.get("molcfg"):
        entry = w.write_bytes("molcfg.yaml", str(snapshot["molcfg"]).encode("utf-8"))
        build.add_file("molcfg.yaml", entry, name="molcfg.yaml (profiles, as snapshot at launch)",
                       encodingFormat="application/yaml")  # fmt: skip
        params_ids.append({"@id": "molcfg.yaml"})
    entry = w.write_bytes("config.json", json_bytes(run.config or {}))
    build.add_file(
        "config.json",
        entry,
        name=f"Merged configuration (profile {run.profile or 'default'})",
        encodingFormat="application/json",
        description=f"config_hash {run.config_hash}",
        about={"@id": "#config_hash"},
    )
    build.graph.append({"@id": "#config_hash", "@type": "PropertyValue", "name": "config_hash",
                        "propertyID": "config_hash", "value": run.config_hash})  # fmt: skip
    params_ids.append({"@id": "config.json"})
    if snapshot.get("git_diff"):
        entry = w.write_bytes("git.diff", str(snapshot["git_diff"]).encode("utf-8"))
        build.add_file("git.diff", entry, name="Uncommitted changes at launch", encodingFormat="text/x-diff")
    return params_ids
