"""How an import stores a server file or tree: move into the blob store, or symlink/hardlink under ``links/``.

Invariants:
- ``move``: the file is renamed into the store when it is on the same file system,
  else copied and then removed; if hashing fails after the rename the source is put
  back rather than lost.
- ``symlink`` stores a symlink to the (resolved) source; ``hardlink`` an ``os.link``
  (a tree of them for a directory), which must be on the store's file system (else a
  ``ValidationError``). Both need the file-system storage backend and live under
  ``links/``, never under ``blobs/``: their bytes can change behind the store's back,
  so they are not shared by content address.
- Every entry is built under a temporary name and renamed into place (``_publish``);
  an identical entry already there wins and the temporary one is dropped.
- ``_rename`` and ``_link`` are the seams tests use to simulate another file system.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from .. import storage
from ..choices import ImportAction
from .blob_claims import blob_claim
from .blobs import CHUNK, StoredBlob, _tmp_dir, blob_name, blob_store_path
from .import_archive import _Entry


def _local_store() -> None:
    if not storage.is_local():
        raise ValidationError(
            {"action": "symlink and hardlink need the file-system storage backend; use copy or move."}
        )


def _link_name(sha256: str, real: Path, action: str) -> str:
    key = hashlib.sha256(f"{action}\x00{real}".encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"links/{sha256[:2]}/{sha256[2:4]}/{sha256}-{key}"


def _rename(src: Path, dst: Path) -> None:
    """``os.rename`` (a seam for tests that simulate another file system)."""
    os.rename(src, dst)


def _link(src: Path, dst: Path) -> None:
    """``os.link`` (a seam for tests that simulate another file system)."""
    os.link(src, dst)


def _publish(tmp: Path, final: Path) -> None:
    """Rename a finished temporary entry into place, or drop it if an identical one is there."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() or final.is_symlink():
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        else:
            tmp.unlink()
        return
    os.replace(tmp, final)


def _store_symlink(real: Path, sha256: str) -> str:
    name = _link_name(sha256, real, ImportAction.SYMLINK)
    final = Path(default_storage.path(name))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{uuid.uuid4().hex}.tmp"
    os.symlink(real, tmp)
    if final.is_symlink() and os.readlink(final) != str(real):
        os.replace(tmp, final)  # stale link under a name keyed by this source: repoint it
    else:
        _publish(tmp, final)
    return name


def _hardlink_error(exc: OSError) -> ValidationError:
    if exc.errno == errno.EXDEV:
        why = "the source is on another file system than the asset store (hard links cannot cross file systems)"
    else:
        why = f"the file system refused the hard link ({exc.strerror})"
    return ValidationError({"action": f"Cannot hardlink: {why}. Use copy, move or symlink."})


def _store_hardlink_file(real: Path, sha256: str) -> str:
    name = _link_name(sha256, real, ImportAction.HARDLINK)
    final = Path(default_storage.path(name))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{uuid.uuid4().hex}.tmp"
    try:
        _link(real, tmp)
    except OSError as exc:
        raise _hardlink_error(exc) from None
    _publish(tmp, final)
    return name


def _store_hardlink_tree(entries: list[_Entry], real: Path, sha256: str) -> str:
    name = _link_name(sha256, real, ImportAction.HARDLINK)
    final = Path(default_storage.path(name))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    try:
        for entry in entries:
            target = tmp.joinpath(*entry.rel.split("/"))
            if entry.is_dir:
                target.mkdir()
            else:
                _link(entry.path, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _hardlink_error(exc) from None
    _publish(tmp, final)
    return name


def _move_file(real: Path) -> StoredBlob:
    """Rename the file into the store (same file system) or copy it and remove the source."""
    if not storage.is_local():
        blob = blob_store_path(real)  # an object store: upload it, then remove the source
        real.unlink()
        return blob
    tmp = _tmp_dir() / f"{uuid.uuid4().hex}.move"
    try:
        _rename(real, tmp)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise ValidationError({"source": f"Cannot move the source: {exc.strerror}."}) from None
        blob = blob_store_path(real)  # another file system: copy, then remove the source
        real.unlink()
        return blob
    try:
        digest = hashlib.sha256()
        size = 0
        with open(tmp, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(fh.fileno())
        sha = digest.hexdigest()
        name = blob_name(sha)
        blob_claim(names=[name])  # before _publish looks for an identical blob (garbage-collection protocol)
        _publish(tmp, Path(default_storage.path(name)))
    except BaseException:
        if tmp.exists():
            os.replace(tmp, real)  # put the source back rather than lose it
        raise
    return StoredBlob(name=name, sha256=sha, size=size)
