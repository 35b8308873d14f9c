"""The content-addressed blob store: the only code that writes asset bytes under ``blobs/``.

Invariants:
- Bytes are content-addressed: a blob lives at ``blobs/<aa>/<bb>/<sha256>`` and
  identical bytes are stored once, whatever their names. Asset names are only
  database strings; no user-supplied name ever becomes a file-system path.
- A blob is written to a temporary file (``MEDIA_ROOT/tmp``) while its SHA-256 is
  computed, fsynced and renamed into place (atomic on one file system), so a crash
  never leaves a partial file under a published name. ``blob_adopt_file`` renames a
  finished file whose SHA-256 is already known (a finished upload) the same way.
- Each writer claims the blob's name (``blob_claim``) before it checks whether the
  blob exists, so the garbage collector never frees bytes a writer is about to
  reference (docs/lifecycle.md).
- ``storage_probe`` proves the configured storage backend does what the store needs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from .. import storage
from .blob_claims import blob_claim

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredBlob:
    name: str  # storage name
    sha256: str
    size: int


def blob_name(sha256: str) -> str:
    """Where the asset bytes of this content hash are stored (content-addressed, two folder levels)."""
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _tmp_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class StagedBlob:
    """Bytes written and hashed into a temporary file (fsynced), not yet in the store."""

    path: Path
    sha256: str
    size: int


def blob_stage_chunks(chunks: Iterable[bytes]) -> StagedBlob:
    """Write a stream of bytes to a temporary file in ``MEDIA_ROOT/tmp``, hashing while writing, and fsync it.

    No database access and no claim: a caller that registers the blob in one transaction
    (``ctx.artifact.save``) writes the bytes first, so no transaction is open while they are
    written (SQLite's ``BEGIN IMMEDIATE`` would hold the write lock), then publishes them with
    ``blob_adopt_file`` inside it. The caller removes ``path`` if it does not publish it.
    """
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
    except BaseException:
        os.unlink(tmp_path)
        raise
    return StagedBlob(path=Path(tmp_path), sha256=digest.hexdigest(), size=size)


def fileobj_chunks(fileobj: IO) -> Iterator[bytes]:
    """The bytes of a binary (or text: UTF-8) file object in ``CHUNK`` pieces."""
    while True:
        chunk = fileobj.read(CHUNK)
        if not chunk:
            return
        yield chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")


def blob_store_chunks(chunks: Iterable[bytes]) -> StoredBlob:
    """Store a stream of bytes content-addressed, hashing while writing; returns the blob."""
    staged = blob_stage_chunks(chunks)
    try:
        # claims before the existence check: a collection running now skips it or finishes first
        return blob_adopt_file(path=staged.path, sha256=staged.sha256, size=staged.size)
    finally:
        staged.path.unlink(missing_ok=True)


def blob_store_fileobj(fileobj: IO[bytes]) -> StoredBlob:
    return blob_store_chunks(fileobj_chunks(fileobj))


def blob_store_bytes(data: bytes) -> StoredBlob:
    return blob_store_chunks([data])


def blob_store_path(path: Path) -> StoredBlob:
    with open(path, "rb") as fh:
        return blob_store_fileobj(fh)


def blob_adopt_file(*, path: Path, sha256: str, size: int) -> StoredBlob:
    """Move a finished, fsynced local file whose SHA-256 is known into the content-addressed blob store.

    Same layout and guarantees as ``blob_store_chunks`` (identical bytes stored
    once; a published name only ever holds all the bytes) but the file is
    renamed, not read again, on the file-system backend (copied to a temporary
    file and renamed across file systems); an object store receives it in one
    upload. If the blob exists already the file is dropped.
    """
    name = blob_name(sha256)
    blob_claim(names=[name])  # before the existence check (garbage-collection protocol)
    if storage.exists(name):
        path.unlink(missing_ok=True)
    else:
        storage.put_file(name, path, move=True)
    return StoredBlob(name=name, sha256=sha256, size=size)


# --- the storage probe ------------------------------------------------------------------


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


def storage_ping() -> None:
    """The cheap, read-only check /healthz runs on every probe (``storage_probe`` writes; this does not).

    Local storage: the folder (or the folder it will be created in) is writable by this process. Any other backend
    (S3…): an existence check of a fixed key, one HEAD request that fails on a wrong bucket,
    endpoint or credentials. Raises ``StorageProbeFailed``.
    """
    from django.core.files.storage import default_storage

    try:
        if storage.is_local():
            folder = os.path.abspath(default_storage.location)
            while not os.path.exists(folder) and os.path.dirname(folder) != folder:
                folder = os.path.dirname(folder)  # not created yet: the first write creates it here
            if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
                raise StorageProbeFailed("the storage folder is not a writable folder")
        else:
            storage.exists("probes/healthz")
    except StorageProbeFailed:
        raise
    except Exception as exc:
        raise StorageProbeFailed(f"{type(exc).__name__}: {exc}") from exc


class StorageProbeFailed(Exception):
    """The asset storage refused one of the operations MolExp needs."""
