"""Resumable uploads (tus 1.0, SPEC §7): the only code that writes upload partials and publishes them.

Invariants:
- A partial lives at ``MEDIA_ROOT/uploads/<upload uuid>.part``, a server-chosen
  name. Nothing the client sends (``filename``, ``name``, tags…) ever becomes a
  path: they are labels on the ``Upload`` row and on the asset.
- ``Upload.offset`` is the *committed* offset. Under the per-upload lock the
  partial file is reconciled with it before any write: bytes past it (a chunk
  that failed its checksum, a process killed between write and UPDATE) are cut
  off; a file shorter than it (an OS crash lost unsynced bytes) lowers it.
- One writer per upload: a PATCH holds a non-blocking ``flock`` on the partial
  for the whole request; a second concurrent PATCH gets ``UploadLocked`` (423).
- The SHA-256 is computed while the bytes stream in. The running ``hashlib``
  object lives in a small per-process cache keyed by upload id together with
  the offset it covers. When the next PATCH lands in another web process (a
  cache miss, or an entry for another offset) that process rehashes the prefix
  already on disk once and continues; in the common case (one process, or the
  same process again) the file is never read back. When the last byte is
  committed the partial is fsynced and *renamed* into the content-addressed blob
  store (``blob_adopt_file``), again without a second read.
- Nothing is published unless the committed offset equals ``Upload-Length`` and
  the file has exactly that size. A chunk with ``Upload-Checksum`` is committed
  only when its digest matches (else it is cut off and the offset is unchanged).
  A body that ends before its ``Content-Length`` — what a client abort looks like
  to the view under gunicorn — commits only the bytes received (none when a
  checksum was sent) and never publishes.
- Bodies are read in ``CHUNK`` (1 MiB) pieces straight into the partial, so
  memory stays bounded whatever the upload size.
- Expired uploads (``MOLEXP_UPLOAD_EXPIRY_HOURS`` after their last PATCH) and
  orphan ``*.part`` files are removed by ``upload_sweep_expired`` (the periodic
  ``assets.maintenance`` task).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import logging
import mimetypes
import os
import re
import threading
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from runs_app.choices import ROLE_RANK, Role
from runs_app.models import Experiment, Membership, Project, Workspace
from runs_app.selectors import experiment_get, project_get, workspace_get, workspace_require_role

from .. import storage
from ..choices import AssetKind, ImportAction, UploadStatus
from ..models import Upload
from .core import CHUNK, StoredBlob, _blob_name, _clean_tags, _tmp_dir, asset_create, asset_name_clean

logger = logging.getLogger(__name__)

#: Checksum algorithms of the tus checksum extension that this server verifies.
CHECKSUM_ALGORITHMS = ("sha256", "sha1", "md5")
#: Upper bound of the raw ``Upload-Metadata`` header and of a description.
METADATA_MAX_CHARS = 16 * 1024
DESCRIPTION_MAX_CHARS = 10_000
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_PARTIAL_NAME = re.compile(r"^uploads/[0-9a-f]{32}\.part$")


# --- errors (the API maps ``status`` to the HTTP status code) -------------------------


class UploadError(Exception):
    """A tus request that cannot be honoured; ``status`` is the HTTP status code to answer."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class UploadGone(UploadError):
    """The upload was terminated, expired or failed: it accepts no more bytes."""

    status = 410


class UploadTooLarge(UploadError):
    """Upload-Length above ``MOLEXP_UPLOAD_MAX_SIZE``, or a chunk past Upload-Length (refused before reading)."""

    status = 413


class UploadOffsetMismatch(UploadError):
    """``Upload-Offset`` differs from the server's committed offset."""

    status = 409


class UploadChecksumMismatch(UploadError):
    """The chunk's digest differs from ``Upload-Checksum``; the chunk was discarded (tus: 460)."""

    status = 460


class UploadLocked(UploadError):
    """Another request is writing to this upload right now."""

    status = 423


class UploadIncomplete(UploadError):
    """The body ended before its Content-Length (client abort); only the bytes received were kept."""

    status = 400


# --- settings and paths -------------------------------------------------------------


def upload_max_size() -> int:
    return int(getattr(settings, "MOLEXP_UPLOAD_MAX_SIZE", 50 * 1024**3))


def upload_expiry() -> timedelta:
    return timedelta(hours=float(getattr(settings, "MOLEXP_UPLOAD_EXPIRY_HOURS", 24)))


def uploads_dir() -> Path:
    """Where partial uploads grow: ``MOLEXP_UPLOAD_DIR`` (default ``MEDIA_ROOT/uploads``).

    Always a local (or shared network) folder, whatever the storage backend: a
    finished upload moves from here into the storage. Several web machines must
    share this folder, or route all requests of one upload URL to one machine.
    """
    path = Path(getattr(settings, "MOLEXP_UPLOAD_DIR", "") or Path(settings.MEDIA_ROOT) / "uploads")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _partial_path(upload: Upload) -> Path:
    """The partial's path, derived only from the server-chosen ``partial_name`` (checked again here)."""
    if not _PARTIAL_NAME.match(upload.partial_name or ""):
        raise UploadGone("This upload has no partial file.")
    return uploads_dir() / upload.partial_name.removeprefix("uploads/")


# --- the running SHA-256 per upload (per process) -------------------------------------

_HASH_CACHE_MAX = 256
_hash_cache: OrderedDict[uuid.UUID, tuple[int, Any]] = OrderedDict()
_hash_cache_lock = threading.Lock()


def _hash_cache_get(upload_id: uuid.UUID, offset: int):
    with _hash_cache_lock:
        entry = _hash_cache.get(upload_id)
        if entry is None or entry[0] != offset:
            return None
        _hash_cache.move_to_end(upload_id)
        return entry[1].copy()


def _hash_cache_put(upload_id: uuid.UUID, offset: int, digest) -> None:
    with _hash_cache_lock:
        _hash_cache[upload_id] = (offset, digest)
        _hash_cache.move_to_end(upload_id)
        while len(_hash_cache) > _HASH_CACHE_MAX:
            _hash_cache.popitem(last=False)


def _hash_cache_drop(upload_id: uuid.UUID) -> None:
    with _hash_cache_lock:
        _hash_cache.pop(upload_id, None)


def _running_hash(upload_id: uuid.UUID, fh: IO[bytes], offset: int):
    """The SHA-256 of the first ``offset`` bytes: from this process's cache, else by rehashing that prefix once."""
    digest = _hash_cache_get(upload_id, offset)
    if digest is not None:
        return digest
    digest = hashlib.sha256()
    fh.seek(0)
    remaining = offset
    while remaining:
        data = fh.read(min(CHUNK, remaining))
        if not data:
            raise UploadError("The partial file is shorter than its committed offset.", status=500)
        digest.update(data)
        remaining -= len(data)
    logger.info("upload %s: rehashed %d bytes (the previous PATCH was served by another process)", upload_id, offset)
    return digest


# --- the blob store ------------------------------------------------------------------


def blob_adopt_file(*, path: Path, sha256: str, size: int) -> StoredBlob:
    """Move a finished, fsynced local file whose SHA-256 is known into the content-addressed blob store.

    Same layout and guarantees as ``blob_store_chunks`` (identical bytes stored
    once; a published name only ever holds all the bytes) but the file is
    renamed, not read again, on the file-system backend (copied to a temporary
    file and renamed across file systems); an object store receives it in one
    upload. If the blob exists already the file is dropped.
    """
    name = _blob_name(sha256)
    if storage.exists(name):
        path.unlink(missing_ok=True)
    else:
        storage.put_file(name, path, move=True)
    return StoredBlob(name=name, sha256=sha256, size=size)


# --- reads the upload page and the API need --------------------------------------------


def upload_get(*, user, pk: Any) -> Upload:
    """An upload of ``user`` (staff: any); ``Http404`` otherwise — another user's upload stays invisible."""
    qs = Upload.objects.select_related("workspace")
    if not (user.is_authenticated and user.is_staff):
        if not user.is_authenticated:
            raise Http404("No such upload.")
        qs = qs.filter(created_by_id=user.pk)
    try:
        return qs.get(pk=pk)
    except (Upload.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such upload.") from None


def upload_workspace_choices(*, user) -> list[Workspace]:
    """Workspaces where ``user`` may upload (editor or owner; staff: all), by name."""
    qs = Workspace.objects.all()
    if not user.is_staff:
        roles = [r for r, rank in ROLE_RANK.items() if rank >= ROLE_RANK[Role.EDITOR]]
        qs = qs.filter(id__in=Membership.objects.filter(user_id=user.pk, role__in=roles).values("workspace_id"))
    return list(qs.order_by("name", "id"))


# --- metadata ---------------------------------------------------------------------------


def upload_metadata_parse(header: str | None) -> dict[str, str]:
    """Decode a tus ``Upload-Metadata`` header (``key base64,key base64,…``); ``ValidationError`` if malformed."""
    if not header:
        return {}
    if len(header) > METADATA_MAX_CHARS:
        raise ValidationError({"Upload-Metadata": f"Upload-Metadata is limited to {METADATA_MAX_CHARS} characters."})
    result: dict[str, str] = {}
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if not parts or len(parts) > 2 or not _METADATA_KEY.match(parts[0]):
            raise ValidationError({"Upload-Metadata": "Each pair is an ASCII key and an optional base64 value."})
        key = parts[0]
        if key in result:
            raise ValidationError({"Upload-Metadata": f"Duplicate key {key!r}."})
        try:
            value = base64.b64decode(parts[1], validate=True).decode("utf-8") if len(parts) == 2 else ""
        except (binascii.Error, ValueError):
            raise ValidationError({"Upload-Metadata": f"The value of {key!r} is not base64 of UTF-8 text."}) from None
        result[key] = value
    return result


def _label_clean(value: str, field: str) -> str:
    """A label (never a path): what ``asset_name_clean`` accepts, reported under ``field``."""
    try:
        return asset_name_clean(value)
    except ValidationError as exc:
        raise ValidationError({field: exc.message_dict["name"]}) from None


def _default_name(filename: str) -> str:
    """The asset name for a file name: its last path component (a browser already sends only that)."""
    base = re.split(r"[\\/]", filename)[-1].strip()
    return base if base not in ("", ".", "..") else "upload"


def _id_of(metadata: dict[str, str], key: str) -> int | None:
    raw = metadata.get(key, "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ValidationError({key: f"{key} must be an id (a whole number)."})
    return int(raw)


def _resolve_scope(*, user, metadata: dict[str, str]) -> tuple[Workspace, Project | None, Experiment | None]:
    """Workspace (editor+ required), then the optional project/experiment, which must lie inside it."""
    ws_id = _id_of(metadata, "workspace")
    if ws_id is None:
        raise ValidationError({"workspace": "Upload-Metadata needs the workspace id."})
    workspace = workspace_get(user=user, pk=ws_id)  # Http404 for outsiders and unknown ids alike
    workspace_require_role(user=user, workspace=workspace, role=Role.EDITOR)
    project = experiment = None
    project_id = _id_of(metadata, "project")
    experiment_id = _id_of(metadata, "experiment")
    if project_id is not None:
        project = project_get(user=user, pk=project_id)
        if project.workspace_id != workspace.pk:
            raise ValidationError({"project": "This project is not in the chosen workspace."})
    if experiment_id is not None:
        experiment = experiment_get(user=user, pk=experiment_id)
        if experiment.workspace_id != workspace.pk:
            raise ValidationError({"experiment": "This experiment is not in the chosen workspace."})
        if project is not None and experiment.project_id != project.pk:
            raise ValidationError({"experiment": "This experiment is not in the chosen project."})
        project = experiment.project
    return workspace, project, experiment


# --- writes ------------------------------------------------------------------------------


def _run_for_artifact(*, user, metadata: dict[str, str]):
    """An upload with Upload-Metadata ``run`` is an artifact of that external run (launcher or editor; 409 once ended)."""
    from runs_app.selectors import external_execution_for_write, run_get

    run = run_get(user=user, pk=_id_of(metadata, "run"))
    return run, external_execution_for_write(user=user, run=run)


def _artifact_metadata(metadata: dict[str, str]) -> dict | None:
    try:
        value = json.loads(metadata.get("metadata") or "null")
    except ValueError:
        raise ValidationError({"metadata": "Upload-Metadata 'metadata' must be JSON."}) from None
    return value if isinstance(value, dict) else None


def upload_create(*, user, length: int, metadata: dict[str, str]) -> Upload:
    """Start a tus upload of ``length`` bytes (tus creation): validate everything, create an empty partial.

    Refuses (``UploadTooLarge``) a length above ``MOLEXP_UPLOAD_MAX_SIZE`` before
    anything is written. The target scope needs the editor role (``Http404`` for
    outsiders, ``PermissionDenied`` for viewers). An empty upload is published at once.
    """
    if not isinstance(length, int) or length < 0:
        raise ValidationError({"Upload-Length": "Upload-Length must be a non-negative whole number."})
    max_size = upload_max_size()
    if length > max_size:
        raise UploadTooLarge(f"Upload-Length {length} exceeds the maximum upload size of {max_size} bytes.")
    if not metadata.get("filename"):
        raise ValidationError({"filename": "Upload-Metadata needs the filename."})
    filename = _label_clean(metadata["filename"], "filename")
    name = asset_name_clean(metadata.get("name") or _default_name(filename))
    tags = _clean_tags(metadata.get("tags", "").split(","))
    description = metadata.get("description", "")
    if len(description) > DESCRIPTION_MAX_CHARS or "\x00" in description:
        raise ValidationError({"description": f"At most {DESCRIPTION_MAX_CHARS} characters, no NUL."})
    if _id_of(metadata, "run") is not None:  # an artifact of an external run (SPEC §13)
        run, _execution = _run_for_artifact(user=user, metadata=metadata)
        workspace, project, experiment = run.workspace, None, None
    else:
        workspace, project, experiment = _resolve_scope(user=user, metadata=metadata)

    upload_id = uuid.uuid4()
    upload = Upload(
        id=upload_id,
        workspace=workspace,
        project=project,
        experiment=experiment,
        created_by=user,
        filename=filename,
        name=name,
        tags=tags,
        description=description,
        metadata=metadata,
        length=length,
        partial_name=f"uploads/{upload_id.hex}.part",
        expires_at=timezone.now() + upload_expiry(),
    )
    path = _partial_path(upload)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        upload.save(force_insert=True)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if length == 0:
        upload.sha256 = hashlib.sha256().hexdigest()
        Upload.objects.filter(pk=upload.pk).update(sha256=upload.sha256)
        _upload_publish(upload, path)
    return upload


def _parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    parts = header.strip().split(" ")
    if len(parts) != 2:
        raise UploadError("Upload-Checksum is '<algorithm> <base64 digest>'.")
    algorithm = parts[0].lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise UploadError(f"Unsupported checksum algorithm {parts[0]!r}; use one of {', '.join(CHECKSUM_ALGORITHMS)}.")
    try:
        expected = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise UploadError("The Upload-Checksum digest is not base64.") from None
    return algorithm, expected


def _require_receiving(upload: Upload) -> None:
    if upload.status == UploadStatus.COMPLETE:
        raise UploadOffsetMismatch("This upload is complete; it accepts no more bytes.")
    if upload.status != UploadStatus.RECEIVING:
        raise UploadGone(f"This upload is {upload.status}" + (f": {upload.error}" if upload.error else "."))


def _require_editor(*, user, upload: Upload) -> None:
    """The creator must still be an editor of the target workspace (roles can change mid-upload)."""
    workspace_require_role(user=user, workspace=upload.workspace, role=Role.EDITOR)


@contextlib.contextmanager
def _locked_partial(upload: Upload):
    """Open the partial read-write and hold an exclusive, non-blocking lock on it (``UploadLocked`` if taken)."""
    path = _partial_path(upload)
    try:
        fh = open(path, "r+b")  # closed below, after the lock
    except FileNotFoundError:
        Upload.objects.filter(pk=upload.pk, status=UploadStatus.RECEIVING).update(
            status=UploadStatus.FAILED, error="The partial file is gone."
        )
        raise UploadGone("The partial file of this upload is gone; start a new upload.") from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UploadLocked("Another request is writing to this upload; retry after it ends.") from None
        yield path, fh
    finally:
        fh.close()  # releases the lock


def _reconcile(upload: Upload, fh: IO[bytes]) -> int:
    """Make the partial and ``Upload.offset`` agree (see the module invariants); returns the committed offset."""
    size = os.fstat(fh.fileno()).st_size
    if size > upload.offset:
        fh.truncate(upload.offset)
    elif size < upload.offset:
        logger.warning("upload %s: partial has %d bytes, row said %d; continuing from the file", upload.pk, size,
                       upload.offset)  # fmt: skip
        Upload.objects.filter(pk=upload.pk).update(offset=size)
        upload.offset = size
        _hash_cache_drop(upload.pk)
    return upload.offset


def upload_append(
    *,
    user,
    pk: Any,
    offset: int,
    stream: IO[bytes] | None,
    content_length: int,
    checksum: str | None = None,
) -> Upload:
    """Append one PATCH body at ``offset`` (tus core + checksum); publish the asset when the last byte arrives.

    Raises ``UploadOffsetMismatch`` (409) when ``offset`` is not the committed
    offset, ``UploadTooLarge`` (413) when the body would pass Upload-Length — both
    before reading the body —, ``UploadChecksumMismatch`` (460) with the chunk
    discarded, ``UploadIncomplete`` (400) when the body ended early (the bytes
    received are kept unless a checksum was sent), ``UploadLocked`` (423) and
    ``UploadGone`` (410). Returns the upload, with ``asset`` set once complete.
    """
    upload = upload_get(user=user, pk=pk)
    _require_editor(user=user, upload=upload)
    _require_receiving(upload)
    wanted = _parse_checksum(checksum)
    if content_length < 0:
        raise UploadError("Content-Length must not be negative.")
    with _locked_partial(upload) as (path, fh):
        upload.refresh_from_db()
        _require_receiving(upload)
        committed = _reconcile(upload, fh)
        if offset != committed:
            raise UploadOffsetMismatch(f"Upload-Offset {offset} does not match the server's offset {committed}.")
        if committed + content_length > upload.length:
            raise UploadTooLarge(
                f"{content_length} bytes at offset {committed} would pass Upload-Length {upload.length}."
            )
        digest = _running_hash(upload.pk, fh, committed)
        chunk_digest = hashlib.new(wanted[0]) if wanted else None
        fh.seek(committed)
        received = 0
        while received < content_length:
            try:
                data = stream.read(min(CHUNK, content_length - received)) if stream is not None else b""
            except OSError:  # includes UnreadablePostError: the client went away
                data = b""
            if not data:
                break
            fh.write(data)
            digest.update(data)
            if chunk_digest is not None:
                chunk_digest.update(data)
            received += len(data)
        fh.flush()
        ended_early = received < content_length
        if chunk_digest is not None and (ended_early or chunk_digest.digest() != wanted[1]):
            fh.truncate(committed)
            if ended_early:
                raise UploadIncomplete(
                    f"The body ended after {received} of {content_length} bytes; the checksummed chunk was "
                    f"discarded, the offset stays {committed}."
                )
            raise UploadChecksumMismatch(f"The chunk does not match its {wanted[0]} Upload-Checksum; discarded.")
        new_offset = committed + received
        done = new_offset == upload.length
        if done:
            os.fsync(fh.fileno())
            if os.fstat(fh.fileno()).st_size != upload.length:  # never publish a file of another size
                raise UploadError("The partial's size differs from Upload-Length.", status=500)
        fields: dict[str, Any] = {
            "offset": new_offset,
            "expires_at": timezone.now() + upload_expiry(),
            "updated_at": timezone.now(),
        }
        if done:
            fields["sha256"] = digest.hexdigest()
        Upload.objects.filter(pk=upload.pk, status=UploadStatus.RECEIVING).update(**fields)
        for key, value in fields.items():
            setattr(upload, key, value)
        if not done:
            _hash_cache_put(upload.pk, new_offset, digest)
            if ended_early:
                raise UploadIncomplete(
                    f"The body ended after {received} of {content_length} bytes; the offset is now {new_offset}."
                )
            return upload
        _hash_cache_drop(upload.pk)
        _upload_publish(upload, path)
    return upload


def _upload_publish(upload: Upload, path: Path | None) -> None:
    """Adopt the finished partial as a blob and register the ``DataAsset`` version; mark the upload complete.

    Called with the upload's lock held (or for a new, empty upload). Same bytes
    under the same name and scope give the existing version (``reuse_identical``).
    """
    if path is not None and path.exists():
        blob = blob_adopt_file(path=path, sha256=upload.sha256, size=upload.length)
    else:
        blob = StoredBlob(name=_blob_name(upload.sha256), sha256=upload.sha256, size=upload.length)
        if not storage.exists(blob.name):
            Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.FAILED, error="The finished file is gone.")
            raise UploadGone("The finished file of this upload is gone; start a new upload.")
    media_type = mimetypes.guess_type(upload.name)[0] or mimetypes.guess_type(upload.filename)[0] or ""
    try:
        if _id_of(upload.metadata or {}, "run") is not None:
            run, execution = _run_for_artifact(user=upload.created_by, metadata=upload.metadata)
            asset = asset_create(
                kind=AssetKind.ARTIFACT, name=upload.name, run=run, blob=blob, media_type=media_type,
                tags=upload.tags, metadata=_artifact_metadata(upload.metadata), producer_execution=execution,
            )  # fmt: skip
        else:
            asset = asset_create(
                kind=AssetKind.DATA,
                name=upload.name,
                workspace=upload.workspace,
                project=upload.project,
                experiment=upload.experiment,
                blob=blob,
                media_type=media_type,
                tags=upload.tags,
                description=upload.description,
                metadata={"filename": upload.filename},
                created_by=upload.created_by,
                reuse_identical=True,
                import_action=ImportAction.UPLOAD,
                source_path="",
            )
    except ValidationError as exc:
        Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.FAILED, error="; ".join(exc.messages))
        raise
    Upload.objects.filter(pk=upload.pk).update(
        status=UploadStatus.COMPLETE, asset=asset, partial_name="", error="", updated_at=timezone.now()
    )
    upload.status, upload.asset, upload.partial_name = UploadStatus.COMPLETE, asset, ""
    logger.info("upload %s complete: asset %s (%s v%s), %d bytes", upload.pk, asset.pk, asset.name, asset.version,
                upload.length)  # fmt: skip


def upload_status(*, user, pk: Any) -> Upload:
    """The upload for a tus HEAD; finishes one whose last PATCH stored every byte but died before publishing."""
    upload = upload_get(user=user, pk=pk)
    if upload.status in (UploadStatus.ABORTED, UploadStatus.EXPIRED, UploadStatus.FAILED):
        raise UploadGone(f"This upload is {upload.status}" + (f": {upload.error}" if upload.error else "."))
    if upload.status == UploadStatus.RECEIVING and upload.offset == upload.length and upload.sha256:
        path = _partial_path(upload)
        if path.exists():
            with _locked_partial(upload) as (path, _fh):
                upload.refresh_from_db()
                if upload.status == UploadStatus.RECEIVING:
                    _upload_publish(upload, path)
        else:
            _upload_publish(upload, None)
    return upload


def upload_terminate(*, user, pk: Any) -> None:
    """tus termination: drop the partial and mark the upload aborted (a published asset stays)."""
    upload = upload_get(user=user, pk=pk)
    if upload.status in (UploadStatus.ABORTED, UploadStatus.EXPIRED):
        raise UploadGone(f"This upload is already {upload.status}.")
    if upload.partial_name:
        path = _partial_path(upload)
        if path.exists():
            with _locked_partial(upload) as (path, _fh):
                path.unlink(missing_ok=True)
    Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.ABORTED, partial_name="", updated_at=timezone.now())
    _hash_cache_drop(upload.pk)


def upload_sweep_expired(*, now: datetime | None = None) -> dict[str, int]:
    """Expire receiving uploads past ``expires_at`` (their partial removed) and delete orphan ``*.part`` files.

    An upload being written right now (its lock is held) is skipped. Orphans are
    ``*.part`` files in ``uploads/`` that no receiving upload owns, and the blob
    store's temporary ``tmp/*.part`` files, older than the expiry (a killed web
    worker leaves them behind).
    """
    now = now or timezone.now()
    expired = 0
    candidates = Upload.objects.filter(status=UploadStatus.RECEIVING, expires_at__lt=now).only(
        "id", "partial_name", "length", "offset", "status", "expires_at"
    )
    for upload in candidates.iterator(chunk_size=500):
        try:
            path = _partial_path(upload)
        except UploadGone:
            path = None
        try:
            with contextlib.ExitStack() as stack:
                if path is not None and path.exists():
                    stack.enter_context(_locked_partial(upload))
                changed = Upload.objects.filter(pk=upload.pk, status=UploadStatus.RECEIVING, expires_at__lt=now).update(
                    status=UploadStatus.EXPIRED, partial_name="", error="Expired before it was complete."
                )
                if changed and path is not None:
                    path.unlink(missing_ok=True)
                expired += changed
        except (UploadLocked, UploadGone):
            continue
        _hash_cache_drop(upload.pk)

    cutoff = (now - upload_expiry()).timestamp()
    owned = set(
        Upload.objects.filter(status=UploadStatus.RECEIVING)
        .exclude(partial_name="")
        .values_list("partial_name", flat=True)
    )
    orphans = 0
    for folder, prefix in ((uploads_dir(), "uploads/"), (_tmp_dir(), None)):
        for part in folder.glob("*.part"):
            try:
                if not part.is_file() or part.is_symlink() or part.stat().st_mtime >= cutoff:
                    continue
            except OSError:
                continue
            if prefix is not None and f"{prefix}{part.name}" in owned:
                continue
            part.unlink(missing_ok=True)
            orphans += 1
    if expired or orphans:
        logger.info("upload sweep: %d expired, %d orphan partial files removed", expired, orphans)
    return {"expired": expired, "orphans": orphans}


__all__ = [
    "CHECKSUM_ALGORITHMS",
    "UploadChecksumMismatch",
    "UploadError",
    "UploadGone",
    "UploadIncomplete",
    "UploadLocked",
    "UploadOffsetMismatch",
    "UploadTooLarge",
    "blob_adopt_file",
    "upload_append",
    "upload_create",
    "upload_get",
    "upload_max_size",
    "upload_metadata_parse",
    "upload_status",
    "upload_sweep_expired",
    "upload_terminate",
    "upload_workspace_choices",
    "uploads_dir",
]
