"""Resumable uploads (tus 1.0, SPEC §7): the protocol's services (creation, PATCH, HEAD, termination).

The other concerns of an upload live beside this module: its errors
(``upload_errors``), the partial file, its lock and the running hash
(``upload_partials``), publishing (``upload_publish``) and the sweep (``upload_sweep``).

Invariants:
- Nothing the client sends (``filename``, ``name``, tags…) ever becomes a path:
  they are labels on the ``Upload`` row and on the asset.
- Every request re-checks that the creator is still an editor of the target
  workspace (roles can change mid-upload); another user's upload is ``Http404``.
- The SHA-256 is computed while the bytes stream in; when the last byte is committed
  the partial is fsynced and published (``upload_publish``) under the upload's lock.
- Nothing is published unless the committed offset equals ``Upload-Length`` and
  the file has exactly that size. A chunk with ``Upload-Checksum`` is committed
  only when its digest matches (else it is cut off and the offset is unchanged).
  A body that ends before its ``Content-Length`` — what a client abort looks like
  to the view under gunicorn — commits only the bytes received (none when a
  checksum was sent) and never publishes.
- Bodies are read in ``CHUNK`` (1 MiB) pieces straight into the partial, so
  memory stays bounded whatever the upload size (``upload_body``: large bodies are
  written past the page cache and hashed beside the reads).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import uuid
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from molexp_site.metrics import upload_bytes_add
from runs_app.access import (
    archive_require_active,
    experiment_get,
    project_get,
    workspace_get,
    workspace_require_role,
    workspaces_with_role_at_least,
)
from runs_app.choices import Role
from runs_app.models import Experiment, Project, Workspace

from ..choices import UploadStatus
from ..models import Upload
from .quota import QuotaExceeded, quota_check_upload
from .registration import _clean_tags, asset_name_clean
from .upload_body import body_receive
from .upload_errors import (
    UploadChecksumMismatch,
    UploadError,
    UploadGone,
    UploadIncomplete,
    UploadOffsetMismatch,
    UploadTooLarge,
)
from .upload_partials import (
    _hash_cache_drop,
    _hash_cache_put,
    _locked_partial,
    _partial_path,
    _reconcile,
    _running_hash,
    upload_expiry,
    upload_max_size,
)
from .upload_publish import _run_for_artifact, _upload_publish

#: Checksum algorithms of the tus checksum extension that this server verifies.
CHECKSUM_ALGORITHMS = ("sha256", "sha1", "md5")
#: Upper bound of the raw ``Upload-Metadata`` header and of a description.
METADATA_MAX_CHARS = 16 * 1024
DESCRIPTION_MAX_CHARS = 10_000
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


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
    return list(workspaces_with_role_at_least(user=user, role=Role.EDITOR).order_by("name", "id"))


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
    archive_require_active(workspace=workspace, project=project, experiment=experiment)  # SPEC §14: read-only
    return workspace, project, experiment


# --- writes ------------------------------------------------------------------------------


def upload_create(*, user, length: int, metadata: dict[str, str]) -> Upload:
    """Start a tus upload of ``length`` bytes (tus creation): validate everything, create an empty partial.

    Refuses (``UploadTooLarge``, 413) a length above ``MOLEXP_UPLOAD_MAX_SIZE``, or one
    that would take the workspace past its ``storage_quota_bytes``, before anything is written. The target scope needs the editor role (``Http404`` for
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
    target = _run_for_artifact(user=user, metadata=metadata)  # an artifact of an external run (SPEC §13)
    if target is not None:
        workspace, project, experiment = target[0].workspace, None, None
    else:
        workspace, project, experiment = _resolve_scope(user=user, metadata=metadata)
    try:
        quota_check_upload(workspace=workspace, length=length)  # before any byte or row (SPEC §14: 413)
    except QuotaExceeded as exc:
        raise UploadTooLarge(exc.messages[0]) from None

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
        received = body_receive(stream=stream, fh=fh, path=path, start=committed, length=content_length,
                                digests=[digest] if chunk_digest is None else [digest, chunk_digest])  # fmt: skip
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
        upload_bytes_add(received)  # molexp_upload_bytes_total (/metrics)
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
