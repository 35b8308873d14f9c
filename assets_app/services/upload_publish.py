"""Publishing a finished upload: its partial becomes a blob and a ``DataAsset`` version,
or, with Upload-Metadata ``run``, an ``ArtifactAsset`` of that external run (SPEC §13) —
a ``CheckpointAsset`` when the metadata also has ``checkpoint`` (its ``data`` JSON beside it):
the one upload path of an external run's files.

Invariants:
- Nothing is published unless the committed offset equals ``Upload-Length`` and the
  file has exactly that size (checked by the caller under the upload's lock).
- The partial is fsynced and *renamed* into the content-addressed blob store
  (``blob_adopt_file``), without a second read. Same bytes under the same name and
  scope give the existing version (``reuse_identical``).
- A refused registration marks the upload ``failed`` with the reason; a successful one
  marks it ``complete`` with its asset, and the upload accepts no more bytes.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from pathlib import Path

from django.core.exceptions import ValidationError
from django.utils import timezone

from runs_app.access import external_execution_for_write, run_get

from .. import storage
from ..choices import AssetKind, ImportAction, UploadStatus
from ..models import Upload
from .blob_claims import blob_claim
from .blobs import StoredBlob, blob_adopt_file, blob_name
from .registration import asset_create
from .run_assets import checkpoint_create
from .upload_errors import UploadGone

logger = logging.getLogger("assets_app.services.uploads")


def _run_id(metadata: dict[str, str]) -> int | None:
    raw = (metadata or {}).get("run", "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ValidationError({"run": "run must be an id (a whole number)."})
    return int(raw)


def _run_for_artifact(*, user, metadata: dict[str, str]):
    """The run and its external execution for an upload with Upload-Metadata ``run``, or ``None``.

    Launcher or editor only (``Http404`` for outsiders, ``PermissionDenied`` for
    viewers); ``Conflict`` (409) once the run ended. The ``metadata`` and checkpoint
    ``data`` JSON are checked here too, so a bad one is refused before any byte is sent.
    """
    run_id = _run_id(metadata)
    if run_id is None:
        if "checkpoint" in (metadata or {}):
            raise ValidationError({"checkpoint": "A checkpoint upload needs the run id (Upload-Metadata run)."})
        return None
    _artifact_metadata(metadata)
    _checkpoint_data(metadata)
    run = run_get(user=user, pk=run_id)
    return run, external_execution_for_write(user=user, run=run)


def _json_value(metadata: dict[str, str], key: str):
    try:
        return json.loads(metadata.get(key) or "null")
    except ValueError:
        raise ValidationError({key: f"Upload-Metadata '{key}' must be JSON."}) from None


def _artifact_metadata(metadata: dict[str, str]) -> dict | None:
    value = _json_value(metadata, "metadata")
    return value if isinstance(value, dict) else None


def _checkpoint_data(metadata: dict[str, str]):
    """The checkpoint's JSON ``data`` (``None`` when the upload is not a checkpoint or has none)."""
    return _json_value(metadata, "data") if "checkpoint" in metadata else None


def _upload_publish(upload: Upload, path: Path | None) -> None:
    """Adopt the finished partial as a blob and register the ``DataAsset`` version; mark the upload complete.

    Called with the upload's lock held (or for a new, empty upload). Same bytes
    under the same name and scope give the existing version (``reuse_identical``).
    """
    if path is not None and path.exists():
        blob = blob_adopt_file(path=path, sha256=upload.sha256, size=upload.length)
    else:
        blob = StoredBlob(name=blob_name(upload.sha256), sha256=upload.sha256, size=upload.length)
        blob_claim(names=[blob.name])  # before the existence check (garbage-collection protocol)
        if not storage.exists(blob.name):
            Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.FAILED, error="The finished file is gone.")
            raise UploadGone("The finished file of this upload is gone; start a new upload.")
    media_type = mimetypes.guess_type(upload.name)[0] or mimetypes.guess_type(upload.filename)[0] or ""
    try:
        target = _run_for_artifact(user=upload.created_by, metadata=upload.metadata or {})
        if target is not None and "checkpoint" in upload.metadata:  # a checkpoint file of an external run
            run, execution = target
            asset = checkpoint_create(
                run=run, execution=execution, task="", name=upload.name, data=_checkpoint_data(upload.metadata),
                blob=blob, tags=upload.tags,
            )  # fmt: skip
        elif target is not None:  # an artifact of an external run (SPEC §13)
            run, execution = target
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


def upload_outcome(upload: Upload) -> dict:
    """What a finished upload became: ``{"asset_id", "version", "reused"}`` (``{}`` while unfinished).

    ``reused`` is true when the bytes were already stored under that name and scope: the version
    existed before this upload began (``reuse_identical``), so no new version was made. One query
    when ``upload.asset`` is not loaded yet.
    """
    if upload.asset_id is None:
        return {}
    asset = upload.asset
    return {"asset_id": asset.pk, "version": asset.version, "reused": asset.created_at < upload.created_at}
