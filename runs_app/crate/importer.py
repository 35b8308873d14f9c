"""Import a MolExp run crate into a workspace: check everything, store the bytes, then register the rows.

Order (each step only after the previous one passed):

1. role (editor or owner) and target project;
2. zip safety of the central directory (``zipsafety``), the JSON budget, the
   metadata's file list (``builders.root.metadata_declared_files``): nothing
   undeclared, nothing missing;
3. every member's sha256 against the metadata (first pass, nothing stored);
4. the record (``record.record_read``), the workflow source size, the source URL, and every
   value the run half will parse (``run_import_check``);
5. asset bytes into the blob store (``assets_app.services.blob_store_chunks``)
   and code bundle files into the code store, outside any transaction;
6. one transaction: the run half by ``runs_app.services.crate_import.run_import_create``,
   the asset half by ``assets_app.services.asset_create``/``asset_use_record``.

Invariants:
- A refused crate creates no rows (steps 1–4 write nothing; step 6 is atomic);
  every refusal is a ``ValidationError`` starting ``Refused crate:`` on ``file``.
- Imported assets keep the original sha256, their bytes content-addressed.
  Inputs exported by reference become records without bytes
  (``metadata["crate_bytes"] == "referenced"``).
- A code bundle file is stored only when its crate sha256 (already checked)
  equals the one the run's manifest names: an imported manifest only points
  at matching bytes. Nothing imported is ever imported as Python or run.
- Assets are reached only through ``assets_app.services`` (writes) and
  ``assets_app.selectors`` (reads).
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from assets_app.selectors import AssetKind, code_blob_exists
from assets_app.services import (
    StoredBlob,
    asset_create,
    asset_use_record,
    blob_store_chunks,
    code_blob_claim,
    code_blob_store,
)
from runs_app.choices import Role
from runs_app.models import Execution, Project, Run, Workspace
from runs_app.selectors import workspace_require_role
from runs_app.services.crate_import import run_import_check, run_import_create

from .builders.root import METADATA, metadata_declared_files
from .record import RECORD, asset_entry_fields, record_provenance, record_read, record_source_url
from .zipsafety import (
    CrateLimits,
    crate_check_json_budget,
    crate_check_source,
    member_chunks,
    member_json,
    member_sha256,
    refuse,
    zip_check,
    zip_open,
)


@dataclass
class CrateImportResult:
    run: Run
    assets: list[Any]
    referenced: int


def crate_import(
    *,
    user,
    workspace: Workspace,
    fileobj: IO[bytes],
    project: Project | None = None,
    crate_name: str = "",
) -> CrateImportResult:
    """Import a MolExp run crate into ``workspace`` (editor or owner): a read-only record marked imported.

    ``fileobj`` is a seekable zip. Checks everything first (see the module
    docstring), then stores the bytes content-addressed and, in one transaction,
    creates the project/experiment (reused by slug; or ``project``), the run with
    its history (``runs_app.services.crate_import``) and its assets
    (``imported=True``, same sha256). Raises ``ValidationError`` (a refused crate:
    nothing created), ``PermissionDenied`` (viewer) or ``Http404`` (non-member).
    """
    workspace_require_role(user=user, workspace=workspace, role=Role.EDITOR)
    if project is not None and project.workspace_id != workspace.pk:
        raise ValidationError({"project": "That project is not in the target workspace."})
    limits = CrateLimits.from_settings()
    zf, archive_size = zip_open(fileobj)
    with zf:
        files = zip_check(zf, archive_size=archive_size, limits=limits)
        if METADATA not in files:
            raise refuse(f"no {METADATA}.")
        crate_check_json_budget(
            (files[name] for name in (METADATA, RECORD, "events.json", "metrics.json") if name in files), limits=limits
        )
        metadata = member_json(zf, files[METADATA], what=METADATA, limits=limits)
        root, declared = metadata_declared_files(metadata)
        del metadata  # only the root entity is kept: the graph is freed before the record is parsed
        undeclared = sorted(set(files) - set(declared) - {METADATA})
        if undeclared:
            raise refuse(f"files not described in the metadata: {', '.join(undeclared[:5])}.")
        missing = sorted(set(declared) - set(files))
        if missing:
            raise refuse(f"files described but absent: {', '.join(missing[:5])}.")
        # First pass: every checksum, before anything is stored.
        for path, sha in declared.items():
            if member_sha256(zf, files[path]) != sha:
                raise refuse(f"sha256 of {path!r} does not match the metadata.")
        record = record_read(zf, files, limits=limits)
        workflow = record.get("workflow") or {}
        if workflow.get("path"):
            crate_check_source(files[workflow["path"]], limits=limits)
        source_url = record_source_url(record.get("source_url"), root.get("url"))
        _refusing(run_import_check, record)  # every timestamp and number parsed before a byte is stored

        # Second pass: store bytes content-addressed (slow I/O outside the transaction).
        blobs: dict[str, StoredBlob] = {}
        for entry in record["assets"]:
            path = entry.get("path")
            if path and path in files and path not in blobs:
                blob = blob_store_chunks(member_chunks(zf, files[path]))
                if blob.sha256 != declared[path]:
                    raise refuse(f"sha256 of {path!r} changed while reading.")
                blobs[path] = blob
        _bundle_store(zf, files, declared, record)
        source = None
        if workflow.get("path"):
            source = b"".join(member_chunks(zf, files[workflow["path"]]))  # at most MOLEXP_CRATE_MAX_SOURCE_BYTES

    imported = record_provenance(record, crate_name=crate_name or root.get("name") or "", source_url=source_url,
                                 user=user)  # fmt: skip
    return _refusing(_register, user=user, workspace=workspace, project=project, record=record, source=source,
                     blobs=blobs, imported=imported)  # fmt: skip


def _refusing(step, *args, **kwargs):
    """Run one step of the import; any error in the record becomes a ``Refused crate:`` ValidationError."""
    try:
        return step(*args, **kwargs)
    except ValidationError as exc:
        if any(m.startswith("Refused crate:") for m in exc.messages):
            raise
        raise refuse("; ".join(exc.messages)) from None
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, DatabaseError) as exc:
        # A field of the record with the wrong type or value: a transaction rolled back, nothing exists.
        raise refuse(f"the run record is malformed ({type(exc).__name__}: {str(exc)[:200]}).") from None


def _bundle_store(zf: zipfile.ZipFile, files: dict, declared: dict[str, str], record: dict) -> None:
    """Keep the code snapshot files of a crate as inert bytes (content-addressed; never imported or run).

    Only files whose crate sha256 (already checked) equals the sha256 the run's manifest
    names are stored, so the manifest of an imported run only ever points at matching bytes.
    """
    bundle = record.get("bundle") if isinstance(record.get("bundle"), dict) else {}
    paths = bundle.get("files") if isinstance(bundle.get("files"), dict) else {}
    snapshot = (record.get("run") or {}).get("workflow_snapshot") or {}
    manifest = snapshot.get("files") if isinstance(snapshot, dict) and isinstance(snapshot.get("files"), dict) else {}
    for rel, path in paths.items():
        item = manifest.get(rel)
        if not isinstance(item, dict) or not isinstance(path, str) or path not in files:
            continue
        sha = str(item.get("sha256") or "")
        if declared.get(path) != sha:
            continue
        code_blob_claim(sha256s=[sha])  # before the existence check: a concurrent gc skips it (docs/lifecycle.md)
        if code_blob_exists(sha256=sha):
            continue
        info = files[path]
        if info.file_size > settings.MOLEXP_SNAPSHOT_MAX_BYTES:
            continue
        code_blob_store(sha256=sha, data=b"".join(member_chunks(zf, info)))


def _register(*, user, workspace, project, record: dict, source: bytes | None, blobs: dict, imported: dict):
    """The rows of an import, in one transaction (the checks and the blob bytes are done)."""
    with transaction.atomic():
        run, by_number = run_import_create(
            user=user if getattr(user, "is_authenticated", False) else None,
            workspace=workspace,
            project=project,
            record=record,
            source=source,
            source_sha256=hashlib.sha256(source).hexdigest() if source is not None else "",
            imported=imported,
        )
        assets, referenced, id_map = _assets_create(run=run, record=record, blobs=blobs, by_number=by_number)
        for use in record.get("asset_uses") or []:
            if use.get("asset") in id_map:
                asset_use_record(asset=id_map[use["asset"]], run=run, execution=by_number.get(use.get("execution")),
                                 task_name=str(use.get("task_name") or ""))  # fmt: skip
        error = run.error
        if isinstance(error, dict) and error.get("traceback_asset") in id_map:
            error = {**error, "traceback_asset": id_map[error["traceback_asset"]].pk}
            Run.objects.filter(pk=run.pk).update(error=error)
            run.error = error
        imported["original"]["asset_ids"] = {str(new.pk): old for old, new in id_map.items()}
        Run.objects.filter(pk=run.pk).update(imported=imported)
        run.imported = imported
    return CrateImportResult(run=run, assets=assets, referenced=referenced)


def _assets_create(
    *, run: Run, record: dict, blobs: dict[str, StoredBlob], by_number: dict[int, Execution]
) -> tuple[list[Any], int, dict[int, Any]]:
    """The record's assets (inputs first, then by version and original id), with their blobs or as references."""
    created: list[Any] = []
    id_map: dict[int, Any] = {}
    referenced = 0
    entries = sorted(
        record["assets"], key=lambda e: (e.get("role") != "input", e.get("version") or 0, e.get("id") or 0)
    )
    for entry in entries:
        kind = entry["kind"]
        path = entry.get("path")
        metadata = entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}
        blob = blobs.get(path) if path else None
        is_checkpoint_data = (
            kind == AssetKind.CHECKPOINT and path and str(path).endswith(".json") and not entry.get("sha256")
        )
        if is_checkpoint_data:
            blob = None  # the checkpoint was data only; its JSON file is a convenience copy
        if blob is not None and entry.get("sha256") and blob.sha256 != entry["sha256"]:
            raise refuse(f"asset {entry['name']!r}: sha256 differs from the record.")
        if blob is None and entry.get("role") == "input" and entry.get("sha256"):
            # Referenced only: a record with the original checksum and size but no bytes.
            blob = StoredBlob(name="", sha256=str(entry["sha256"])[:64], size=int(entry.get("size") or 0))
            metadata = {**metadata, "crate_bytes": "referenced"}
            referenced += 1
        parent = id_map.get(entry.get("parent")) if kind == AssetKind.CHECKPOINT else None
        kind_fields = asset_entry_fields(entry, parent_pk=parent.pk if parent else None)
        asset = asset_create(
            kind=kind,
            name=entry["name"],
            run=run,
            blob=blob,
            media_type=str(entry.get("media_type") or ""),
            tags=entry.get("tags") if isinstance(entry.get("tags"), list) else [],
            description=str(entry.get("description") or ""),
            metadata=metadata,
            producer_execution=by_number.get(entry.get("producer_execution"))
            if entry.get("role") == "output"
            else None,
            producer_task=str(entry.get("producer_task") or "")[:200],
            search_extra=" ".join(str(entry.get(k) or "") for k in ("exception_type", "exception_message")),
            **kind_fields,
        )
        created.append(asset)
        if isinstance(entry.get("id"), int):
            id_map[entry["id"]] = asset
    return created, referenced, id_map
