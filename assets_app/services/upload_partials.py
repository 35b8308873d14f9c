"""Partial uploads on disk: where they grow, their per-upload lock, and the running SHA-256.

Invariants:
- A partial lives at ``MOLEXP_UPLOAD_DIR/<upload uuid>.part`` (default
  ``MEDIA_ROOT/uploads``), a server-chosen name checked again on every use
  (``_partial_path``). Nothing the client sends ever becomes a path.
- ``Upload.offset`` is the *committed* offset. Under the per-upload lock the
  partial file is reconciled with it before any write (``_reconcile``): bytes past
  it (a chunk that failed its checksum, a process killed between write and UPDATE)
  are cut off; a file shorter than it (an OS crash lost unsynced bytes) lowers it.
- One writer per upload: a PATCH holds a non-blocking ``flock`` on the partial for
  the whole request; a second concurrent PATCH gets ``UploadLocked`` (423).
- The running ``hashlib`` object lives in a small per-process cache keyed by upload
  id together with the offset it covers. A cache miss (the previous PATCH was served
  by another web process) rehashes the prefix already on disk once and continues; in
  the common case the file is never read back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import threading
import uuid
from collections import OrderedDict
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from ..choices import UploadStatus
from ..models import Upload
from .blobs import CHUNK
from .upload_errors import UploadError, UploadGone, UploadLocked

logger = logging.getLogger("assets_app.services.uploads")

_PARTIAL_NAME = re.compile(r"^uploads/[0-9a-f]{32}\.part$")


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
