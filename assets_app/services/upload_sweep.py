"""The periodic sweep of uploads (the ``assets.maintenance`` task): expired uploads and orphan partials.

Invariants:
- A receiving upload past ``expires_at`` (``MOLEXP_UPLOAD_EXPIRY_HOURS`` after its last
  PATCH) becomes ``expired`` and loses its partial, with a conditional UPDATE; one being
  written right now (its lock is held) is skipped until the next pass.
- Orphans are ``*.part`` files in the uploads folder that no receiving upload owns, and
  the blob store's temporary ``tmp/*.part`` files, older than the expiry (a killed web
  worker leaves them behind). Symlinks are never followed or removed.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from django.utils import timezone

from ..choices import UploadStatus
from ..models import Upload
from .blobs import _tmp_dir
from .upload_errors import UploadGone, UploadLocked
from .upload_partials import _hash_cache_drop, _locked_partial, _partial_path, upload_expiry, uploads_dir

logger = logging.getLogger("assets_app.services.uploads")


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
