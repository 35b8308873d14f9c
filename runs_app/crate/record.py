"""The lossless MolExp run record (``molexp/run.json``, format ``molexp-run/1``): its writer beside its reader.

The RO-Crate graph describes a run for any RO-Crate tool; this record is what
MolExp itself re-registers on import. Writer and reader sit side by side so a
field added to one is seen next to the other:

- writer: :func:`record_build` (workspace, project, experiment, workflow, bundle,
  run, executions with their tasks, assets, asset uses) and :func:`asset_entry`;
  ``events.json``/``metrics.json`` are separate members (``builders.actions``).
- reader: :func:`record_read` (parse, shape, merge events and metrics, count
  bounds), :func:`record_source_url`, :func:`record_provenance` (the run's
  ``imported`` field) and :func:`asset_entry_fields` (an asset entry back to the
  keyword arguments of ``assets_app.services.asset_create``).

Invariants:
- The writer records ids of the exporting server (run, executions, assets) so
  the reader can map them (``imported["original"]``); executions are referred to
  by number, never by id, inside the record.
- The reader trusts nothing: an unknown format, a missing or mistyped section,
  an asset of unknown kind, a path not in the crate or a count over its bound
  refuses the crate (``zipsafety.refuse``) before any row or blob is written.
- The source URL is kept only if it is an absolute http(s) URL; anything else
  refuses the crate (never stored, so never rendered as a link: issue 12, finding 1).
"""

from __future__ import annotations

import re
import zipfile
from typing import Any

from django.utils import timezone

from assets_app.selectors import AssetKind
from molexp_site.safe_url import http_url
from runs_app.models import Execution, Run

from .builders.base import iso as _iso
from .zipsafety import CrateLimits, member_json, refuse

RECORD = "molexp/run.json"
RECORD_FORMAT = "molexp-run/1"
#: Fixed bounds of the record's lists (far above any real run).
MAX_EXECUTIONS = 1000
MAX_TASK_EXECUTIONS = 100_000
MAX_ASSET_USES = 100_000


# --- writer ---------------------------------------------------------------------------------------


def asset_entry(asset: Any, *, role: str, path: str | None, execution_numbers: dict[int, int]) -> dict:
    """The record entry of one asset (``role`` input or output; ``path`` its file in the crate, if any)."""
    return {
        "id": asset.pk,
        "role": role,
        "kind": asset.kind,
        "name": asset.name,
        "version": asset.version,
        "scope": asset.scope,
        "path": path,
        "sha256": asset.sha256,
        "size": asset.size,
        "media_type": asset.media_type,
        "tags": asset.tags or [],
        "description": asset.description,
        "metadata": asset.metadata or {},
        "producer_task": asset.producer_task,
        "producer_execution": execution_numbers.get(asset.producer_execution_id),
        "source_path": asset.source_path,
        "import_action": asset.import_action,
        "line_count": asset.line_count,
        "data": asset.data,
        "parent": asset.parent_id,
        "exception_type": asset.exception_type,
        "exception_message": asset.exception_message,
        "traceback": asset.traceback,
        "fingerprint": asset.fingerprint,
        "created_at": _iso(asset.created_at),
    }


def record_build(
    *,
    run: Run,
    executions: list[Execution],
    exec_numbers: dict[int, int],
    uses: list,
    snapshot: dict,
    workflow_id: str | None,
    bundle_paths: dict[str, str],
    asset_entries: list[dict],
    exported_at,
    source_url: str,
    inputs: str,
) -> dict:
    """The record of ``run`` (selected with its experiment, project, workspace, source blob and launcher)."""
    exp = run.experiment
    return {
        "format": RECORD_FORMAT,
        "exported_at": _iso(exported_at),
        "source_url": source_url,
        "inputs": inputs,
        "workspace": {"id": run.workspace_id, "slug": run.workspace.slug, "name": run.workspace.name},
        "project": {"id": run.project_id, "slug": run.project.slug, "name": run.project.name},
        "experiment": {
            "id": exp.pk,
            "slug": exp.slug,
            "name": exp.name,
            "description": exp.description,
            "workflow_source": exp.workflow_source,
            "workflow_name": exp.workflow_name,
            "topology": exp.topology,
            "git_commit": exp.git_commit,
            "git_branch": exp.git_branch,
            "git_dirty": exp.git_dirty,
            "git_diff": exp.git_diff,
        },  # fmt: skip
        "workflow": {"path": workflow_id, "sha256": run.source_blob.sha256 if run.source_blob else None},
        # SPEC §12: every file of the code snapshot, manifest path → path in the crate.
        "bundle": {"snapshot_hash": snapshot.get("snapshot_hash", ""), "files": bundle_paths},
        "run": {
            "id": run.pk,
            "number": run.number,
            "status": run.status,
            "params": run.params,
            "profile": run.profile,
            "config": run.config,
            "config_hash": run.config_hash,
            "overrides": run.overrides,
            "workflow_snapshot": snapshot,
            "results": run.results,
            "error": run.error,
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "launched_by": run.launched_by.get_username() if run.launched_by else None,
        },  # fmt: skip
        "executions": [
            {
                "id": ex.pk,
                "uuid": str(ex.uuid),
                "number": ex.number,
                "trigger": ex.trigger,
                "status": ex.status,
                "worker_hostname": ex.worker_hostname,
                "worker_pid": ex.worker_pid,
                "celery_task_id": ex.celery_task_id,
                "queued_at": _iso(ex.queued_at),
                "dispatched_at": _iso(ex.dispatched_at),
                "started_at": _iso(ex.started_at),
                "finished_at": _iso(ex.finished_at),
                "heartbeat_at": _iso(ex.heartbeat_at),
                "environment": ex.environment,
                "error": ex.error,
                "tasks": [
                    {
                        "task_name": t.task_name,
                        "status": t.status,
                        "started_at": _iso(t.started_at),
                        "finished_at": _iso(t.finished_at),
                        "reused": t.reused,
                        "output_ref": t.output_ref,
                        "error": t.error,
                    }
                    for t in ex.task_executions.all()
                ],
            }  # fmt: skip
            for ex in executions
        ],
        "assets": asset_entries,
        "asset_uses": [
            {"asset": u.asset_id, "execution": exec_numbers.get(u.execution_id), "task_name": u.task_name} for u in uses
        ],
    }


# --- reader ---------------------------------------------------------------------------------------


def _record_check(record: Any, files: dict[str, zipfile.ZipInfo]) -> None:
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise refuse(f"unknown record format (expected {RECORD_FORMAT}).")
    for key, kind in (("workspace", dict), ("project", dict), ("experiment", dict), ("run", dict),
                      ("executions", list), ("assets", list)):  # fmt: skip
        if not isinstance(record.get(key), kind):
            raise refuse(f"the record's {key!r} is missing or malformed.")
    workflow = record.get("workflow") or {}
    if not isinstance(workflow, dict) or not isinstance(workflow.get("path") or "", str):
        raise refuse("the record's 'workflow' is malformed.")
    if workflow.get("path") and workflow["path"] not in files:
        raise refuse("the record names a workflow file that is not in the crate.")
    for entry in record["assets"]:
        if not isinstance(entry, dict) or entry.get("kind") not in AssetKind.values or not entry.get("name"):
            raise refuse("an asset entry of the record is malformed.")
        if not isinstance(entry.get("path") or "", str):
            raise refuse("an asset entry of the record is malformed.")
        if entry.get("path") and entry["path"] not in files:
            raise refuse(f"asset file {entry['path']!r} is not in the crate.")


def record_check_counts(record: dict, *, limits: CrateLimits) -> None:
    """Counts of the record's rows: events, metrics, assets (settings), executions, tasks, uses (fixed)."""
    executions = record.get("executions") or []
    tasks = sum(len(e.get("tasks") or []) if isinstance(e, dict) else 0 for e in executions)
    bounds = (
        ("events", len(record.get("events") or []), limits.events, "MOLEXP_CRATE_MAX_EVENTS"),
        ("metric points", len(record.get("metrics") or []), limits.metrics, "MOLEXP_CRATE_MAX_METRICS"),
        ("assets", len(record.get("assets") or []), limits.assets, "MOLEXP_CRATE_MAX_ASSETS"),
        ("executions", len(executions), MAX_EXECUTIONS, ""),
        ("task executions", tasks, MAX_TASK_EXECUTIONS, ""),
        ("asset uses", len(record.get("asset_uses") or []), MAX_ASSET_USES, ""),
    )
    for what, count, limit, setting in bounds:
        if count > limit:
            raise refuse(f"{count} {what} (limit {limit}{', ' + setting if setting else ''}).")
    for ex in executions:
        if not isinstance(ex, dict) or not isinstance(ex.get("tasks") or [], list):
            raise refuse("an execution of the record is malformed.")


def record_read(zf: zipfile.ZipFile, files: dict[str, zipfile.ZipInfo], *, limits: CrateLimits) -> dict:
    """The crate's record (checksums already verified), with ``events``/``metrics`` merged in; bounds checked."""
    if RECORD not in files:
        raise refuse(f"not a MolExp run crate (no {RECORD}).")
    record = member_json(zf, files[RECORD], what=RECORD, limits=limits)
    _record_check(record, files)
    for key in ("events", "metrics"):
        if f"{key}.json" in files:
            rows = member_json(zf, files[f"{key}.json"], what=f"{key}.json", limits=limits)
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise refuse(f"{key}.json is not a list of objects.")
            record[key] = rows
    record_check_counts(record, limits=limits)
    return record


def record_source_url(*candidates: Any) -> str | None:
    """The crate's source URL (the first non-empty candidate), which must be http(s); ``None`` if there is none.

    A value that is not an absolute http(s) URL refuses the crate (never stored,
    so never rendered as a link: issue 12, finding 1).
    """
    for value in candidates:
        if isinstance(value, dict) and set(value) == {"@id"}:
            value = value["@id"]  # JSON-LD reference form of "url"
        if value in (None, ""):
            continue
        url = http_url(value)
        if url is None:
            shown = re.sub(r"[^\x21-\x7e]", "?", str(value))[:80]
            raise refuse(f"its source URL {shown!r} is not an http(s) URL.")
        return url
    return None


def record_provenance(record: dict, *, crate_name: str, source_url: str | None, user) -> dict:
    """The imported run's ``imported`` field: where the record came from, when, by whom (ids of the original)."""
    return {
        "crate": crate_name,
        "original": {
            "workspace": record["workspace"],
            "project": record["project"],
            "experiment": {k: record["experiment"].get(k) for k in ("id", "slug", "name")},
            "run_id": record["run"].get("id"),
            "run_number": record["run"].get("number"),
            "execution_ids": {str(e.get("number")): e.get("id") for e in record["executions"]},
            "launched_by": record["run"].get("launched_by"),
        },
        "exported_at": record.get("exported_at"),
        "source_url": source_url,
        "inputs": record.get("inputs"),
        "imported_at": timezone.now().isoformat(),
        "imported_by": user.get_username() if getattr(user, "is_authenticated", False) else None,
    }


def asset_entry_fields(entry: dict, *, parent_pk: int | None) -> dict[str, Any]:
    """The kind-specific keyword arguments of ``asset_create`` for an asset entry (``imported=True``).

    ``parent_pk`` is the new id of a checkpoint's parent (mapped by the caller).
    """
    kind = entry["kind"]
    kind_fields: dict[str, Any] = {"imported": True}
    if kind == AssetKind.DATA:
        kind_fields.update(source_path=str(entry.get("source_path") or "")[:1000],
                           import_action=str(entry.get("import_action") or "")[:10])  # fmt: skip
    if kind == AssetKind.LOG:
        kind_fields["line_count"] = int(entry.get("line_count") or 0)
    if kind == AssetKind.CHECKPOINT:
        kind_fields["data"] = entry.get("data")
        kind_fields["parent_id"] = parent_pk
    if kind == AssetKind.ERROR_TRACE:
        kind_fields.update(
            exception_type=str(entry.get("exception_type") or "")[:255],
            exception_message=str(entry.get("exception_message") or ""),
            traceback=str(entry.get("traceback") or ""),
            fingerprint=str(entry.get("fingerprint") or "")[:64],
        )
    return kind_fields
