"""Source diffs: a run's code snapshot against the current files, and two runs' snapshots.

Invariants:
- One unified-diff implementation: ``runs_app.snapshot.manifest_diff`` over rows of
  ``manifest_compare``; both diffs here only choose the two manifests and how to read a side.
- Workflow files are read, never imported; an imported run (SPEC §12) is never compared with
  server files.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath
from typing import Any

from django.core.exceptions import ValidationError

from .. import snapshot as code_snapshot
from ..models import (
    Run,
    SourceBlob,
)
from ..profiles import MOLCFG_NAME, ProfileError, load_molcfg
from .workflows import workflow_resolve


def run_source_diff(*, run: Run, context_lines: int = 3) -> dict[str, Any]:
    """Every file of the run's code snapshot against the workflow's source tree as it is now.

    Returns ``{"status": "identical" | "changed" | "missing", "diff": str, "message": str,
    "files": [{"path", "status", "diff"}…]}`` (file statuses: identical, changed, added,
    removed; see ``runs_app.snapshot``). ``missing`` when the run has no stored source or
    the workflow file is gone (the message says which). One query (the source blob); reads
    the current files, never imports them. An older one-file snapshot is compared with the
    workflow file alone.
    ``imported`` for a run imported from a crate: its workflow name came from the crate, so no
    server file is read for it at all (SPEC §12; docs/security.md "Only server workflow code runs").
    """

    if run.imported:
        return {
            "status": "imported",
            "diff": "",
            "files": [],
            "message": "Imported from an RO-Crate: the snapshot is the crate's and is not compared with this "
            "server's files.",
        }
    recorded = run.workflow_snapshot or {}
    source_name = recorded.get("workflow_source") or run.experiment.workflow_source
    content = SourceBlob.objects.filter(pk=run.source_blob_id).values_list("content", flat=True).first()
    if content is None:
        return {"status": "missing", "diff": "", "message": "This run has no stored source snapshot.", "files": []}
    try:
        path = workflow_resolve(source_name)
        current_source = path.read_bytes()
    except (ValidationError, OSError):
        return {"status": "missing", "diff": "", "files": [],
                "message": f"The workflow file {source_name!r} is no longer there."}  # fmt: skip
    old_manifest = code_snapshot.manifest_of(recorded)
    root = code_snapshot.workflow_root(source_name, path)
    workflow_rel = path.relative_to(root).as_posix()
    try:
        include = load_molcfg(path.parent / MOLCFG_NAME).get("snapshot_include", [])
    except ProfileError:
        include = []
    try:
        now = code_snapshot.bundle_collect(root=root, workflow_rel=workflow_rel, source=current_source, include=include)
        new_manifest = now.manifest
    except ValidationError:  # the tree grew past the snapshot limit: compare the recorded files only
        new_manifest = {}
        now = None
    if not recorded.get("files"):  # one-file snapshot: the workflow file alone
        old_rel = PurePosixPath(source_name.strip()).as_posix()
        new_manifest = {old_rel: {"sha256": _sha256_hex(current_source), "size": len(current_source)}}
    rows = code_snapshot.manifest_compare(old_manifest, new_manifest)
    if now is None:
        for row in rows:
            if row["status"] == "removed" and (root / row["path"]).is_file():
                row["new"] = _sha256_hex((root / row["path"]).read_bytes())
                row["status"] = "identical" if row["new"] == row["old"] else "changed"
    old_blob = bytes(content)
    old_workflow_sha = recorded.get("source_sha256", "")

    def read_old(row: dict) -> bytes | None:
        if row["old"] and row["old"] == old_workflow_sha:
            return old_blob
        return code_snapshot.bundle_file_read(row["old"]) if row["old"] else None

    def read_new(row: dict) -> bytes | None:
        return (root / row["path"]).read_bytes() if row["new"] else None

    status, diff, files = _unified_diff(
        rows, read_old=read_old, read_new=read_new, old_label="run snapshot", new_label="current",
        context_lines=context_lines,
    )  # fmt: skip
    return {"status": status, "diff": diff, "message": "", "files": files}


def code_diff(base: Run, other: Run, blobs: dict[int, bytes], context_lines: int = 3) -> dict[str, Any]:
    """Every file of two runs' code snapshots (SPEC §12): statuses per file and a unified diff of the changed ones.

    Equal ``snapshot_hash`` (or, for older one-file snapshots, equal ``source_sha256``) is
    ``identical`` without reading a byte; otherwise the changed files are read from the
    bundle store (the workflow file from the already loaded source blobs).
    """
    base_snap, other_snap = base.workflow_snapshot or {}, other.workflow_snapshot or {}
    base_sha, other_sha = base_snap.get("source_sha256", ""), other_snap.get("source_sha256", "")
    entry = {"run": other.pk, "base": base.pk, "base_sha256": base_sha, "sha256": other_sha,
             "snapshot_hash": other_snap.get("snapshot_hash", ""), "base_snapshot_hash": base_snap.get("snapshot_hash", "")}  # fmt: skip
    if entry["snapshot_hash"] and entry["snapshot_hash"] == entry["base_snapshot_hash"]:
        return {**entry, "status": "identical", "diff": "", "files": []}
    bundles = bool(base_snap.get("files")) and bool(other_snap.get("files"))
    if not bundles and base_sha and base_sha == other_sha:
        return {**entry, "status": "identical", "diff": "", "files": []}
    by_sha = {
        snap.get("source_sha256"): blobs[run.source_blob_id]
        for run, snap in ((base, base_snap), (other, other_snap))
        if run.source_blob_id in blobs and snap.get("source_sha256")
    }
    if not bundles and (base_sha not in by_sha or other_sha not in by_sha):
        return {**entry, "status": "missing", "diff": "", "files": []}
    old_manifest, new_manifest = code_snapshot.manifest_of(base_snap), code_snapshot.manifest_of(other_snap)
    if not bundles:  # an older one-file snapshot on either side: compare the workflow files alone
        old_manifest = {other_snap.get("workflow_source") or "workflow.py": {"sha256": base_sha}}
        new_manifest = {other_snap.get("workflow_source") or "workflow.py": {"sha256": other_sha}}
    rows = code_snapshot.manifest_compare(old_manifest, new_manifest)

    def reader(side: str):
        def read(row: dict) -> bytes | None:
            sha = row.get(side)
            if not sha:
                return None
            return by_sha[sha] if sha in by_sha else code_snapshot.bundle_file_read(sha)

        return read

    status, diff, files = _unified_diff(
        rows, read_old=reader("old"), read_new=reader("new"), old_label=f"{base.experiment.name} #{base.number}, {(entry['base_snapshot_hash'] or base_sha)[:12]}",
        new_label=f"{other.experiment.name} #{other.number}, {(entry['snapshot_hash'] or other_sha)[:12]}", context_lines=context_lines,
    )  # fmt: skip
    return {
        **entry,
        "status": status,
        "diff": diff,
        "files": [{"path": f["path"], "status": f["status"]} for f in files],
    }


def _unified_diff(
    rows: list[dict], *, read_old, read_new, old_label: str, new_label: str, context_lines: int
) -> tuple[str, str, list[dict]]:
    """``(status, diff, files)`` of manifest rows: the one unified diff (``snapshot.manifest_diff``).

    ``status`` is ``changed`` when any file is not identical, else ``identical``.
    """
    diff, files = code_snapshot.manifest_diff(
        rows, read_old=read_old, read_new=read_new, old_label=old_label, new_label=new_label,
        context_lines=context_lines,
    )  # fmt: skip
    changed = any(f["status"] != "identical" for f in files)
    return ("changed" if changed else "identical"), diff, files


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
