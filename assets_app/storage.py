"""The few storage primitives asset bytes need, on any Django storage backend.

MolExp keeps asset bytes in ``default_storage``: the file system in the
embedded default, an S3-compatible object store (django-storages) when workers
on several machines share one record. This module is the one place that knows
the difference; services and the model call it and never ask for a local path.

Invariants:
- A published name only ever holds all its bytes. On the file system a write
  goes to a temporary file in the same folder, is fsynced and renamed into
  place; on an object store one PUT creates the object whole.
- Names are chosen by the services (content hashes, row ids and random parts),
  never by users; the backend must store them as given (an S3 backend keeps
  ``file_overwrite`` on), which ``put_file``/``put_bytes`` check.
- Reads stream: on an object store ``open_read`` issues ranged GETs from the
  position asked for instead of downloading the whole object first (what
  django-storages' own ``S3File`` does), so a 2 GiB download or a ``Range``
  request costs what it sends.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage

CHUNK = 1024 * 1024


def is_local() -> bool:
    """True when asset bytes live on this machine's file system (``FileSystemStorage``)."""
    return isinstance(default_storage, FileSystemStorage)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_saved(name: str, saved: str) -> None:
    if saved != name:  # a backend that renames on collision would break content addressing
        default_storage.delete(saved)
        raise RuntimeError(
            f"the storage backend stored {name!r} as {saved!r}; configure it to overwrite (AWS_S3_FILE_OVERWRITE)"
        )


def put_file(name: str, path: Path, *, move: bool = False) -> None:
    """Publish the finished local file ``path`` under ``name`` (whole or not at all).

    ``move=True`` lets the file system backend rename the file instead of copying
    it (the caller's file is gone afterwards); an object store uploads it and the
    local file is removed.
    """
    if is_local():
        final = Path(default_storage.path(name))
        final.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                os.replace(path, final)  # atomic on one file system
                _fsync_dir(final.parent)
                return
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        tmp = final.parent / f".{uuid.uuid4().hex}.part"
        try:
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(final.parent)
    else:
        with open(path, "rb") as fh:
            _check_saved(name, default_storage.save(name, File(fh, name=name)))
    if move:
        Path(path).unlink(missing_ok=True)


def put_bytes(name: str, data: bytes, *, fsync: bool = True) -> None:
    """Publish ``data`` under ``name`` (whole or not at all)."""
    if is_local():
        final = Path(default_storage.path(name))
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                if fsync:
                    os.fsync(out.fileno())
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        _check_saved(name, default_storage.save(name, ContentFile(data, name=name)))


def code_blob_name(sha256: str) -> str:
    """Where one file of a run's code snapshot (SPEC §12) is stored: once per content hash."""
    return f"code/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def exists(name: str) -> bool:
    return default_storage.exists(name)


def delete(name: str) -> None:
    default_storage.delete(name)


def list_files(prefix: str) -> list[str]:
    """The names of the files directly below the folder ``prefix`` (ending with ``/``), sorted."""
    if is_local() and not os.path.isdir(default_storage.path(prefix)):
        return []
    _dirs, files = default_storage.listdir(prefix)
    return sorted(prefix + f for f in files if not f.startswith("."))


@dataclass(frozen=True)
class StoredObject:
    name: str
    size: int
    modified: datetime  # aware, UTC


def walk(prefix: str) -> Iterator[StoredObject]:
    """Every object below the folder ``prefix`` (ending with ``/``), recursively, with size and modification time.

    Temporary files (names starting with ``.``) are left out. On an object store this is
    one paginated ``ListObjectsV2`` (sizes and times come with the listing); on the file
    system a directory walk.
    """
    if is_local():
        yield from _walk_local(default_storage.path(prefix), prefix)
        return
    if hasattr(default_storage, "bucket_name") and hasattr(default_storage, "connection"):
        client = default_storage.connection.meta.client
        location = (getattr(default_storage, "location", "") or "").strip("/")
        key_prefix = f"{location}/{prefix}" if location else prefix
        strip = len(key_prefix) - len(prefix)
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=default_storage.bucket_name, Prefix=key_prefix):
            for obj in page.get("Contents", ()):
                name = obj["Key"][strip:]
                if name.rsplit("/", 1)[-1].startswith("."):
                    continue
                yield StoredObject(name, int(obj["Size"]), obj["LastModified"])
        return
    dirs, files = default_storage.listdir(prefix)  # any other backend: its own listing
    for fname in sorted(files):
        if not fname.startswith("."):
            name = prefix + fname
            yield StoredObject(name, default_storage.size(name), default_storage.get_modified_time(name))
    for sub in sorted(dirs):
        yield from walk(f"{prefix}{sub}/")


def _walk_local(folder: str, prefix: str) -> Iterator[StoredObject]:
    """``walk`` on the file system: ``os.scandir`` (the file type comes with the listing; one ``lstat``
    a file for its size and time) and names built as strings. Through ``os.walk`` and ``pathlib`` (a
    ``Path`` joined, stat-ed and made relative per file) a collection's walk of 16 000 objects cost
    1.5 s of CPU, a quarter of it (bench_lifecycle, issue 17)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    subfolders = []
    for entry in entries:  # what os.walk(followlinks=False) did: a link to a folder is neither listed nor entered
        try:
            if entry.is_dir():
                if not entry.is_symlink():
                    subfolders.append(entry)
                continue
            if entry.name.startswith("."):  # temporary files; folders are entered whatever their name
                continue
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        yield StoredObject(prefix + entry.name, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC))
    for entry in subfolders:
        yield from _walk_local(entry.path, f"{prefix}{entry.name}/")


def segment_stamp(name: str) -> tuple[int, int | None]:
    """``(stamp, first)`` of a segment name: ``<stamp>-<random>.seg`` or, merged, ``<stamp>-m<first>.seg``."""
    base = name.rsplit("/", 1)[-1]
    stamp, _, rest = base.partition("-")
    first = int(rest[1:21]) if rest.startswith("m") else None
    return int(stamp), first


def list_segments(prefix: str) -> list[str]:
    """The segments of a segmented object (a live log) in order, each byte exactly once.

    A merged segment ``<last>-m<first>.seg`` holds the bytes of every segment stamped
    ``first``…``last``; it is written before those are deleted, so a reader that still
    sees some of them skips them.
    """
    names = list_files(prefix)
    merged = [segment_stamp(n) for n in names if segment_stamp(n)[1] is not None]
    keep = []
    for name in names:
        stamp, first = segment_stamp(name)
        if first is None and any(lo <= stamp <= hi for hi, lo in merged):
            continue
        keep.append(name)
    return keep


def delete_prefix(prefix: str) -> None:
    """Remove every file below the folder ``prefix`` (and the folder itself on the file system)."""
    for name in list_files(prefix):
        default_storage.delete(name)
    if is_local():
        with contextlib.suppress(OSError):
            os.rmdir(default_storage.path(prefix))


class _SeekableReader(io.RawIOBase):
    """A read-only stream of ``size`` bytes; subclasses read from ``_pos`` in ``read``."""

    size = 0
    _pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _S3Reader(_SeekableReader):
    """A seekable, streaming reader of one object: each read continues one ranged GET."""

    def __init__(self, storage, name: str) -> None:
        super().__init__()
        self._client = storage.connection.meta.client
        self._bucket = storage.bucket_name
        # The backend's own key mapping (its ``location`` prefix and name cleaning).
        self._key = storage._normalize_name(name.replace("\\", "/"))
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=self._key)
        except Exception as exc:
            if _is_not_found(exc):
                raise FileNotFoundError(f"No such object: {name}") from None
            raise
        self.size = int(head["ContentLength"])
        self.name = name
        self._pos = 0
        self._body = None
        self._body_pos = -1

    def _drop_body(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):
                self._body.close()
        self._body, self._body_pos = None, -1

    def read(self, n: int = -1) -> bytes:
        if self._pos >= self.size:
            return b""
        if n is None or n < 0:
            n = self.size - self._pos
        if self._body is None or self._body_pos != self._pos:
            self._drop_body()
            response = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-")
            self._body, self._body_pos = response["Body"], self._pos
        data = self._body.read(n)
        self._pos += len(data)
        self._body_pos = self._pos
        return data

    def close(self) -> None:
        self._drop_body()
        super().close()


def _is_not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class _ConcatReader(_SeekableReader):
    """The files ``names`` read as one seekable stream (a live log's segments)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self._names = names
        self._sizes = [default_storage.size(n) for n in names]
        self.size = sum(self._sizes)
        self._pos = 0
        self._current: tuple[int, IO[bytes]] | None = None

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = max(0, self.size - self._pos)
        out = bytearray()
        while len(out) < n and self._pos < self.size:
            index, start = self._segment_at(self._pos)
            size = self._sizes[index]
            if self._current is None or self._current[0] != index:
                self._close_current()
                self._current = (index, open_read(self._names[index]))
            handle = self._current[1]
            handle.seek(self._pos - start)
            data = handle.read(min(n - len(out), start + size - self._pos))
            if not data:
                break
            out += data
            self._pos += len(data)
        return bytes(out)

    def _segment_at(self, pos: int) -> tuple[int, int]:
        """The index of the file holding byte ``pos`` and that file's first byte's position."""
        start = 0
        for index, size in enumerate(self._sizes):
            if pos < start + size:
                return index, start
            start += size
        raise ValueError(pos)

    def _close_current(self) -> None:
        if self._current is not None:
            with contextlib.suppress(Exception):
                self._current[1].close()
            self._current = None

    def close(self) -> None:
        self._close_current()
        super().close()


def open_read(name: str) -> IO[bytes]:
    """A seekable binary reader of ``name`` with a ``size`` attribute; ``FileNotFoundError`` if missing."""
    if is_local():
        return default_storage.open(name, "rb")
    if hasattr(default_storage, "bucket_name") and hasattr(default_storage, "connection"):
        return _S3Reader(default_storage, name)
    handle = default_storage.open(name, "rb")  # any other backend: its own file object
    if not hasattr(handle, "size"):
        handle.size = default_storage.size(name)
    return handle


def open_concat(names: Iterable[str]) -> IO[bytes]:
    """A seekable reader over several files in order, with a ``size`` attribute."""
    return _ConcatReader(list(names))
