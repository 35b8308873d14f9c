"""Writes of the asset catalog: the only code that stores asset bytes and rows.

Invariants:
- Bytes are content-addressed: a blob lives at ``blobs/<aa>/<bb>/<sha256>`` and
  identical bytes are stored once, whatever their names. Asset names are only
  database strings; no user-supplied name ever becomes a file-system path.
- A blob is written to a temporary file while its SHA-256 is computed, fsynced
  and renamed into place (atomic on one file system), so a crash never leaves a
  partial file under a published name.
- A version is unique per (scope, kind, name): the next version is chosen under
  the unique constraint and retried if a concurrent writer took it.
- ``runs_app`` reaches assets only through these functions (SPEC §1).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mimetypes
import os
import re
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F

from runs_app.models import Execution, Experiment, Project, Run, Workspace

from .. import storage
from ..choices import AssetKind, ScopeKind
from ..models import KIND_CLASSES, Asset, AssetUse

CHUNK = 1024 * 1024
#: How much of a log's text the catalog indexes (its tail), so search stays bounded.
SEARCH_TEXT_LIMIT = 64 * 1024


@dataclass(frozen=True)
class StoredBlob:
    name: str  # storage name
    sha256: str
    size: int


def asset_name_clean(name: str) -> str:
    """Validate an asset name: 1–255 printable characters (it is a label, never a path)."""
    if not isinstance(name, str):
        raise ValidationError({"name": "An asset name must be a string."})
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise ValidationError({"name": "An asset name is required."})
    if len(name) > 255:
        raise ValidationError({"name": "Asset names are at most 255 characters."})
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise ValidationError({"name": "Asset names cannot contain control characters."})
    return name


def _blob_name(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _tmp_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def blob_store_chunks(chunks: Iterable[bytes]) -> StoredBlob:
    """Store a stream of bytes content-addressed, hashing while writing; returns the blob."""
    digest = hashlib.sha256()
    size = 0
    fd, tmp_path = tempfile.mkstemp(dir=_tmp_dir(), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                if not chunk:
                    continue
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        name = _blob_name(sha)
        if not storage.exists(name):
            storage.put_file(name, Path(tmp_path), move=True)  # readers see all bytes or no file
        return StoredBlob(name=name, sha256=sha, size=size)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)


def blob_store_fileobj(fileobj: IO[bytes]) -> StoredBlob:
    def chunks():
        while True:
            chunk = fileobj.read(CHUNK)
            if not chunk:
                return
            yield chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")

    return blob_store_chunks(chunks())


def blob_store_bytes(data: bytes) -> StoredBlob:
    return blob_store_chunks([data])


def blob_store_path(path: Path) -> StoredBlob:
    with open(path, "rb") as fh:
        return blob_store_fileobj(fh)


def _scope_of(
    *, workspace: Workspace, project: Project | None, experiment: Experiment | None, run: Run | None
) -> tuple[str, dict[str, Any]]:
    if run is not None:
        return ScopeKind.RUN, {
            "workspace_id": run.workspace_id,
            "project_id": run.project_id,
            "experiment_id": run.experiment_id,
            "run_id": run.pk,
        }
    if experiment is not None:
        return ScopeKind.EXPERIMENT, {
            "workspace_id": experiment.workspace_id,
            "project_id": experiment.project_id,
            "experiment_id": experiment.pk,
            "run_id": None,
        }
    if project is not None:
        return ScopeKind.PROJECT, {
            "workspace_id": project.workspace_id,
            "project_id": project.pk,
            "experiment_id": None,
            "run_id": None,
        }
    return ScopeKind.WORKSPACE, {
        "workspace_id": workspace.pk,
        "project_id": None,
        "experiment_id": None,
        "run_id": None,
    }


def _word_parts(text: str) -> str:
    """``ligands_v2.csv`` → ``ligands v2 csv``: PostgreSQL's ``simple`` parser keeps a dotted or
    underscored name as one token, so its parts are indexed too and a search for ``ligands`` finds it."""
    return re.sub(r"[\W_]+", " ", text).strip()


def _search_text(*, name: str, tags: list[str], description: str, metadata: Any, extra: str = "") -> str:
    meta = json.dumps(metadata, ensure_ascii=False, default=str) if metadata else ""
    parts = (name, _word_parts(name), " ".join(tags), description, meta, extra)
    return " ".join(part for part in parts if part)[:SEARCH_TEXT_LIMIT]


def _clean_tags(tags: Iterable[str] | None) -> list[str]:
    cleaned = []
    for tag in tags or ():
        if not isinstance(tag, str):
            raise ValidationError({"tags": "Tags must be strings."})
        tag = tag.strip()
        if tag and tag not in cleaned:
            if len(tag) > 100:
                raise ValidationError({"tags": "Tags are at most 100 characters."})
            cleaned.append(tag)
    return cleaned


def asset_create(
    *,
    kind: str,
    name: str,
    workspace: Workspace | None = None,
    project: Project | None = None,
    experiment: Experiment | None = None,
    run: Run | None = None,
    blob: StoredBlob | None = None,
    media_type: str = "",
    tags: Iterable[str] | None = None,
    description: str = "",
    metadata: dict | None = None,
    producer_execution: Execution | None = None,
    producer_task: str = "",
    created_by=None,
    reuse_identical: bool = False,
    search_extra: str = "",
    **kind_fields: Any,
) -> Asset:
    """Register the next version of ``name`` in its scope and return it as its typed kind.

    The narrowest of ``run``/``experiment``/``project``/``workspace`` given is the
    scope. With ``reuse_identical`` (data libraries), when the newest version
    already has the same SHA-256, that version is returned and nothing is written.
    Raises ``ValidationError`` for a bad name, tags or metadata.
    """
    if kind not in AssetKind.values:
        raise ValidationError({"kind": f"Unknown asset kind {kind!r}."})
    name = asset_name_clean(name)
    tags = _clean_tags(tags)
    if metadata is not None and not isinstance(metadata, dict):
        raise ValidationError({"metadata": "Metadata must be a JSON object."})
    try:
        json.dumps(metadata or {})
    except (TypeError, ValueError):
        raise ValidationError({"metadata": "Metadata must be JSON-serializable."}) from None
    if workspace is None and project is None and experiment is None and run is None:
        raise ValidationError("An asset needs a scope (workspace, project, experiment or run).")
    scope, keys = _scope_of(workspace=workspace, project=project, experiment=experiment, run=run)
    scope_key = Asset.make_scope_key(keys["workspace_id"], keys["project_id"], keys["experiment_id"], keys["run_id"])
    if not media_type:
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    producer_run_id = producer_execution.run_id if producer_execution is not None else None
    cls = KIND_CLASSES[kind]
    for _attempt in range(5):
        try:
            with transaction.atomic():
                latest = (
                    Asset.objects.filter(scope_key=scope_key, kind=kind, name=name)
                    .order_by("-version")
                    .only("id", "version", "sha256")
                    .first()
                )
                if reuse_identical and latest is not None and blob is not None and latest.sha256 == blob.sha256:
                    return cls.objects.get(pk=latest.pk)
                asset = cls(
                    kind=kind,
                    name=name,
                    version=(latest.version + 1) if latest else 1,
                    scope=scope,
                    scope_key=scope_key,
                    file=blob.name if blob else "",
                    size=blob.size if blob else 0,
                    sha256=blob.sha256 if blob else "",
                    media_type=media_type,
                    tags=tags,
                    description=description or "",
                    metadata=metadata or {},
                    search_text=_search_text(
                        name=name, tags=tags, description=description, metadata=metadata, extra=search_extra
                    ),
                    producer_run_id=producer_run_id,
                    producer_execution=producer_execution,
                    producer_task=producer_task or "",
                    created_by=created_by,
                    **keys,
                    **kind_fields,
                )
                asset.save()
                return asset
        except IntegrityError:
            continue  # a concurrent writer took this version number; pick the next one
    raise ValidationError(f"Could not allocate a version for {name!r}: too many concurrent writers.")


def asset_use_record(*, asset: Asset, run: Run, execution: Execution | None, task_name: str) -> AssetUse:
    """Record that a run (execution, task) resolved this asset version (lineage)."""
    return AssetUse.objects.create(asset=asset, run=run, execution=execution, task_name=task_name or "")


# --- logs -------------------------------------------------------------------------


def _log_live_prefix(asset: Asset) -> str | None:
    """The segment folder of a log still being written (its ``file`` ends with ``/``), else ``None``."""
    name = asset.file.name if hasattr(asset.file, "name") else str(asset.file or "")
    return name if name.endswith("/") else None


def _log_new_prefix(asset: Asset) -> str:
    # A random part keeps two databases sharing one store (or a restored backup) from ever
    # writing into each other's segment folder under the same row ids.
    return f"logs/run-{asset.run_id}/{asset.pk}-{uuid.uuid4().hex[:12]}/"


def log_open(*, run: Run, execution: Execution | None, name: str, task: str = "") -> Asset:
    """The run's log asset called ``name`` (one per name per run), created empty if new.

    While a log is written its bytes are append-only *segments* in a folder of
    the storage (``logs/run-<run>/<asset>-<random>/``, one object per flush), so
    the same design works on a local disk and on an object store that cannot
    append. ``log_finalize`` joins them into one content-addressed blob. A log
    finalized by an earlier attempt that is written again (a retry) is reopened:
    its bytes become the first segment of a new folder.
    """
    name = asset_name_clean(name)
    existing = Asset.objects.filter(run=run, kind=AssetKind.LOG, name=name).order_by("-version").first()
    if existing is not None:
        existing = existing.as_kind()
        if _log_live_prefix(existing) is None:
            _log_reopen(existing)
        return existing
    asset = asset_create(
        kind=AssetKind.LOG,
        name=name,
        run=run,
        media_type="text/plain",
        producer_execution=execution,
        producer_task=task,
    )
    prefix = _log_new_prefix(asset)
    Asset.objects.filter(pk=asset.pk).update(file=prefix)
    asset.file = prefix
    return asset


def _log_reopen(asset: Asset) -> None:
    prefix = _log_new_prefix(asset)
    if asset.file:
        _copy_to_storage([asset.file.name], f"{prefix}{0:020d}-base.seg")  # streamed: a log may be large
    Asset.objects.filter(pk=asset.pk).update(file=prefix)
    asset.file = prefix


def _copy_to_storage(sources: list[str], name: str) -> None:
    """Publish the bytes of the storage files ``sources``, in order, as ``name`` (streamed through a temp file)."""
    fd, tmp = tempfile.mkstemp(dir=_tmp_dir(), suffix=".seg")
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with storage.open_read(source) as fh:
                    while chunk := fh.read(CHUNK):
                        out.write(chunk)
        storage.put_file(name, Path(tmp), move=True)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: The newest segment stamp each log got from this process: stamps only grow per log.
_segment_stamps: dict[int, int] = {}
#: Segments this process wrote per log since it last merged them.
_segment_counts: dict[int, int] = {}
#: A writer merges its loose segments into one after this many flushes, so a log written for days
#: stays a few hundred objects (a tail lists them; an object store lists 1 000 per request).
LOG_SEGMENTS_MERGE_AT = 256


def _log_segment_name(asset: Asset, prefix: str) -> str:
    """A segment name that sorts after every earlier segment of this log.

    Stamps are nanosecond clock readings, forced to grow per log within a process; a
    process that continues a log (a retry, possibly on another machine) first reads the
    newest existing stamp, so order holds even if the clocks of two machines disagree.
    """
    last = _segment_stamps.get(asset.pk)
    if last is None:
        names = storage.list_files(prefix)
        last = storage.segment_stamp(names[-1])[0] if names else 0
    stamp = max(time.time_ns(), last + 1)
    _segment_stamps[asset.pk] = stamp
    return f"{prefix}{stamp:020d}-{uuid.uuid4().hex[:8]}.seg"


def _log_merge_segments(prefix: str) -> None:
    """Merge the trailing run of loose segments into one ``<last>-m<first>.seg`` (published first, then the
    loose ones are removed; readers skip what a merged segment covers, see ``storage.list_segments``)."""
    loose: list[str] = []
    for name in reversed(storage.list_segments(prefix)):
        if storage.segment_stamp(name)[1] is not None:
            break
        loose.append(name)
    loose.reverse()
    if len(loose) < 2:
        return
    first, last = storage.segment_stamp(loose[0])[0], storage.segment_stamp(loose[-1])[0]
    _copy_to_storage(loose, f"{prefix}{last:020d}-m{first:020d}.seg")
    for name in loose:
        storage.delete(name)


class LogCountPending(Exception):
    """Lines reached the log's storage but their count did not reach the row; carry it to the next flush."""

    def __init__(self, lines: int, size: int) -> None:
        super().__init__(f"{lines} log lines written but not yet counted")
        self.lines = lines
        self.size = size


def log_append_lines(*, asset: Asset, lines: list[str], uncounted: tuple[int, int] = (0, 0)) -> None:
    """Write lines as the log's next segment, then count them with one UPDATE (one DB round trip per flush).

    The segment is published whole (temporary file + rename, or one object PUT)
    before the row is updated, so a line the row counts is always readable and a
    killed writer never leaves half a segment. If the UPDATE fails (the database
    is restarting), ``LogCountPending`` carries the uncounted lines and bytes,
    which the caller passes back as ``uncounted`` on its next flush: no line is
    lost from the count.
    """
    payload = "".join(line.rstrip("\n") + "\n" for line in lines).encode("utf-8", errors="replace")
    if payload:
        prefix = _log_live_prefix(asset)
        if prefix is None:
            _log_reopen(asset)
            prefix = _log_live_prefix(asset)
        storage.put_bytes(_log_segment_name(asset, prefix), payload, fsync=False)
        _segment_counts[asset.pk] = _segment_counts.get(asset.pk, 0) + 1
        if _segment_counts[asset.pk] >= LOG_SEGMENTS_MERGE_AT:
            _log_merge_segments(prefix)
            _segment_counts[asset.pk] = 0
    count, size = len(lines) + uncounted[0], len(payload) + uncounted[1]
    if not count and not size:
        return
    try:
        Asset.objects.filter(pk=asset.pk).update(line_count=F("line_count") + count, size=F("size") + size)
    except DatabaseError as exc:
        raise LogCountPending(count, size) from exc


def log_finalize(*, asset: Asset) -> None:
    """Join a log's segments into one content-addressed blob, record its SHA-256 and index its tail.

    The row points at the blob before the segments are removed, so a crash in
    between leaves only unreferenced segments, never a log without its bytes.
    """
    prefix = _log_live_prefix(asset)
    if prefix is None:
        return
    names = storage.list_segments(prefix)
    tail = bytearray()

    def chunks():
        for name in names:
            with storage.open_read(name) as fh:
                while chunk := fh.read(CHUNK):
                    tail.extend(chunk)
                    del tail[: max(0, len(tail) - SEARCH_TEXT_LIMIT)]
                    yield chunk

    blob = blob_store_chunks(chunks())
    text = tail.decode("utf-8", errors="replace")
    updated = Asset.objects.filter(pk=asset.pk, file=prefix).update(
        file=blob.name,
        sha256=blob.sha256,
        size=blob.size,
        search_text=_search_text(name=asset.name, tags=list(asset.tags or []), description=asset.description,
                                 metadata=asset.metadata, extra=text),
    )  # fmt: skip
    if updated:
        asset.file, asset.sha256, asset.size = blob.name, blob.sha256, blob.size
        storage.delete_prefix(prefix)
    _segment_stamps.pop(asset.pk, None)
    _segment_counts.pop(asset.pk, None)


def log_tail(*, asset: Asset, max_lines: int = 200, max_bytes: int = 256 * 1024) -> list[str]:
    """The last lines of a log without reading it whole (live: only its newest segments)."""
    prefix = _log_live_prefix(asset)
    try:
        if prefix is None:
            if not asset.file:
                return []
            with storage.open_read(asset.file.name) as fh:
                size = fh.size
                fh.seek(max(0, size - max_bytes))
                data = fh.read()
        else:
            pieces: list[bytes] = []
            size = have = 0
            names = storage.list_segments(prefix)
            for name in reversed(names):
                with storage.open_read(name) as fh:
                    seg_size = fh.size
                    size += seg_size
                    if have < max_bytes:
                        fh.seek(max(0, seg_size - (max_bytes - have)))
                        piece = fh.read()
                        pieces.append(piece)
                        have += len(piece)
                if have >= max_bytes:
                    size += 1  # more came before: the first line read is probably cut
                    break
            data = b"".join(reversed(pieces))
    except FileNotFoundError:
        return []  # finalized (and its segments removed) while being read: the next poll reads the blob
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line is probably cut
    return lines[-max_lines:]


def storage_probe() -> dict[str, Any]:
    """Write, list, read back (whole and by range) and delete a probe object in the asset storage.

    What ``manage.py storage_check`` runs on a new machine: it proves the configured
    backend (bucket, endpoint, credentials) accepts exactly the operations MolExp needs.
    Raises ``StorageProbeFailed`` naming the step that failed.
    """
    from django.core.files.storage import default_storage

    prefix = f"probes/{uuid.uuid4().hex}/"
    data = os.urandom(64 * 1024)
    step = "write"
    started = time.monotonic()
    try:
        storage.put_bytes(f"{prefix}probe.bin", data)
        step = "list"
        if storage.list_files(prefix) != [f"{prefix}probe.bin"]:
            raise StorageProbeFailed("list: the probe object is not listed")
        step = "read"
        with storage.open_read(f"{prefix}probe.bin") as fh:
            if fh.size != len(data) or fh.read() != data:
                raise StorageProbeFailed("read: the probe object came back different")
            fh.seek(1000)
            if fh.read(24) != data[1000:1024]:
                raise StorageProbeFailed("read: a ranged read came back different")
        step = "delete"
        storage.delete_prefix(prefix)
        if storage.is_local():  # the empty parent folder, unless another probe is running
            with contextlib.suppress(OSError):
                os.rmdir(default_storage.path("probes"))
        if storage.exists(f"{prefix}probe.bin"):
            raise StorageProbeFailed("delete: the probe object is still there")
    except StorageProbeFailed:
        raise
    except Exception as exc:
        raise StorageProbeFailed(f"{step}: {type(exc).__name__}: {exc}") from exc
    return {
        "backend": f"{default_storage.__class__.__module__}.{default_storage.__class__.__name__}",
        "location": getattr(default_storage, "bucket_name", None) or str(getattr(default_storage, "location", "")),
        "seconds": round(time.monotonic() - started, 3),
    }


class StorageProbeFailed(Exception):
    """The asset storage refused one of the operations MolExp needs."""


# --- error traces -----------------------------------------------------------------


def error_fingerprint(exception_type: str, frames: list[tuple[str, str]]) -> str:
    """Exception type plus normalized frames (file base name and function, no line numbers)."""
    normalized = [f"{Path(filename).name}:{function}" for filename, function in frames]
    return hashlib.sha256("|".join([exception_type, *normalized]).encode("utf-8")).hexdigest()[:32]


def error_trace_create(
    *,
    run: Run,
    execution: Execution,
    task: str,
    exception_type: str,
    message: str,
    traceback_text: str,
    frames: list[tuple[str, str]],
) -> Asset:
    """Save an ``ErrorTraceAsset`` with the traceback as its file and its fingerprint."""
    blob = blob_store_bytes(traceback_text.encode("utf-8", errors="replace"))
    return asset_create(
        kind=AssetKind.ERROR_TRACE,
        name=f"error-{task or 'run'}",
        run=run,
        blob=blob,
        media_type="text/plain",
        producer_execution=execution,
        producer_task=task,
        exception_type=exception_type[:255],
        exception_message=message,
        traceback=traceback_text,
        fingerprint=error_fingerprint(exception_type, frames),
        search_extra=f"{exception_type} {message} {traceback_text}",
        metadata={"frames": [f"{Path(f).name}:{fn}" for f, fn in frames[-20:]]},
    )


# --- run-time helpers used by the RunContext ----------------------------------------


class AssetLookupError(LookupError):
    """No asset of that name in any scope searched; ``scopes`` lists them, narrowest first."""

    def __init__(self, message: str, scopes: list[str]) -> None:
        super().__init__(message)
        self.scopes = scopes


def asset_resolve_for_run(
    *, run: Run, execution: Execution | None, task: str, name: str, kind: str | None = None, version: int | None = None
) -> Asset:
    """Find ``name`` in run → experiment → project → workspace and record an ``AssetUse``.

    The first scope that has the name wins; there the newest version is taken,
    or ``version`` when pinned. One query finds the candidates of all scopes.
    Raises ``AssetLookupError`` listing the scopes searched.

    A reproduction's ``run.input_pins`` (name → asset id) wins: it returns exactly
    that asset (still within the run's workspace), unless ``kind``/``version`` ask
    for another one; a pinned asset that is gone is an error, never "the newest".
    """
    from django.db.models import Q

    pinned = (run.input_pins or {}).get(name)
    if pinned is not None:
        asset = Asset.objects.filter(pk=pinned, workspace_id=run.workspace_id).first()
        if asset is None:
            raise AssetLookupError(f"The pinned input {name!r} (asset id {pinned}) is no longer there", ["pinned"])
        if (not kind or asset.kind == kind) and (version is None or asset.version == version):
            asset = asset.as_kind()
            asset_use_record(asset=asset, run=run, execution=execution, task_name=task)
            return asset
    order = [
        (ScopeKind.RUN, Q(scope=ScopeKind.RUN, run_id=run.pk), f"run #{run.number}"),
        (ScopeKind.EXPERIMENT, Q(scope=ScopeKind.EXPERIMENT, experiment_id=run.experiment_id), "experiment"),
        (ScopeKind.PROJECT, Q(scope=ScopeKind.PROJECT, project_id=run.project_id), "project"),
        (ScopeKind.WORKSPACE, Q(scope=ScopeKind.WORKSPACE, workspace_id=run.workspace_id), "workspace"),
    ]
    where = Q()
    for _, q, _label in order:
        where |= q
    qs = Asset.objects.filter(where, workspace_id=run.workspace_id, name=name)
    if kind:
        qs = qs.filter(kind=kind)
    if version is not None:
        qs = qs.filter(version=version)
    candidates = list(qs.order_by("-version").values_list("id", "scope")[:200])
    for scope, _q, _label in order:
        for asset_id, candidate_scope in candidates:
            if candidate_scope == scope:
                asset = Asset.objects.get(pk=asset_id).as_kind()
                asset_use_record(asset=asset, run=run, execution=execution, task_name=task)
                return asset
    searched = [label for _, _, label in order]
    what = f"{kind} asset" if kind else "asset"
    pinned = f" version {version}" if version is not None else ""
    raise AssetLookupError(f"No {what} {name!r}{pinned} in the scopes searched: {', '.join(searched)}", searched)


def checkpoint_create(
    *,
    run: Run,
    execution: Execution | None,
    task: str,
    name: str,
    data: Any = None,
    blob: StoredBlob | None = None,
    tags: Iterable[str] | None = None,
) -> Asset:
    """A ``CheckpointAsset`` chained (``parent``) to the run's previous checkpoint."""
    try:
        json.dumps(data)
    except (TypeError, ValueError):
        raise ValidationError({"data": "Checkpoint data must be JSON-serializable."}) from None
    parent = Asset.objects.filter(run=run, kind=AssetKind.CHECKPOINT).order_by("-id").only("id").first()
    return asset_create(
        kind=AssetKind.CHECKPOINT,
        name=name,
        run=run,
        blob=blob,
        media_type="application/json" if blob is None else "",
        producer_execution=execution,
        producer_task=task,
        tags=tags,
        data=data,
        parent_id=parent.pk if parent else None,
    )


def data_asset_add_file(
    *,
    user,
    path: Path,
    name: str = "",
    workspace: Workspace,
    project: Project | None = None,
    experiment: Experiment | None = None,
    tags: Iterable[str] | None = None,
    description: str = "",
) -> Asset:
    """Copy a trusted server-side file into a data library (editor or owner); same bytes → same version.

    Used by the demo seed. Imports of user-named server paths (checked against
    ``MOLEXP_IMPORT_ROOTS``, with move/symlink/hardlink) build on this with their checks.
    """
    from runs_app.choices import Role
    from runs_app.selectors import workspace_require_role

    workspace_require_role(user=user, workspace=workspace, role=Role.EDITOR)
    blob = blob_store_path(path)
    return asset_create(
        kind=AssetKind.DATA,
        name=name or path.name,
        workspace=workspace,
        project=project,
        experiment=experiment,
        blob=blob,
        tags=tags,
        description=description,
        created_by=user,
        reuse_identical=True,
        source_path=str(path),
        import_action="copy",
    )
