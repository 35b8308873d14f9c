"""Spool copies of the bytes a run saves (``ctx.artifact.save``, checkpoint files), sent in the background.

Invariants:
- ``copy`` copies at once: the caller may change or delete its file as soon as
  ``save`` returns; what is sent is what it held then.
- A copy is released (``release``) once the server has it, or refused it. Online,
  one released copy of at most ``KEEP_MAX_BYTES`` is kept out of ``files/`` and
  the next copy overwrites it in place, cut to its new length: a loop that saves
  a checkpoint per epoch reuses the same disk blocks and cached pages instead of
  allocating new ones and freeing the old (freeing 64 MiB and filling fresh page
  cache cost 15–150 ms per save on the benchmark machines; docs/client.md). Any
  other released copy is removed, so a long run never fills the disk.
- Offline nothing is released: the files wait for ``molexp sync``.
- ``close`` removes the kept copy (the run's end).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

#: A released copy up to this size is kept to be overwritten by the next copy; larger ones are removed.
KEEP_MAX_BYTES = 1024 * 1024 * 1024
BLOCK = 1024 * 1024


class SpoolFiles:
    """The copies of one run, in ``folder`` (``<spool>/files``); the kept copy is ``<spool>/reuse.bin``."""

    def __init__(self, folder: Path, *, keep: bool) -> None:
        self.folder = folder
        self._keep = keep
        self._kept_path = folder.parent / "reuse.bin"
        self._kept = False
        self._lock = threading.Lock()

    def copy(self, data: Any) -> tuple[Path, str]:
        """Copy ``data`` (bytes, str, Path, file object, JSON-able) to a spool file now; returns (path, media type)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, name = self._open()
        try:
            size, media_type = _write(fd, data)
            os.ftruncate(fd, size)  # a reused file was longer: cut it to this copy
        except BaseException:
            os.close(fd)
            os.unlink(name)
            raise
        os.close(fd)
        return Path(name), media_type

    def release(self, path: Path) -> None:
        """The server has ``path`` (or refused it): keep it for the next copy, or remove it."""
        with self._lock:
            if self._keep and not self._kept:
                try:
                    if path.stat().st_size <= KEEP_MAX_BYTES:
                        os.replace(path, self._kept_path)
                        self._kept = True
                        return
                except OSError:
                    pass
        path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            self._kept = False
            self._kept_path.unlink(missing_ok=True)

    def _open(self) -> tuple[int, str]:
        """A write descriptor on a new spool file: the kept copy renamed, else a fresh file."""
        fd, name = tempfile.mkstemp(dir=self.folder, suffix=".bin")
        with self._lock:
            kept, self._kept = self._kept, False
        if not kept:
            return fd, name
        os.close(fd)
        try:
            os.replace(self._kept_path, name)  # over the empty file just made: its name, the kept blocks
            return os.open(name, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)), name
        except OSError:
            return os.open(name, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600), name


def _write(fd: int, data: Any) -> tuple[int, str]:
    """Write ``data`` from the start of ``fd``; returns (bytes written, media type)."""
    if isinstance(data, Path):  # copied by the kernel (sendfile) where it can, not through Python buffers
        with open(data, "rb") as source:
            return _copy_file(source.fileno(), fd), ""
    if isinstance(data, bytes | bytearray | memoryview):
        return _write_all(fd, memoryview(data).cast("B")), ""
    if isinstance(data, str):
        return _write_all(fd, memoryview(data.encode("utf-8"))), ""
    if hasattr(data, "read"):
        size = 0
        while block := data.read(BLOCK):
            size += _write_all(fd, memoryview(block if isinstance(block, bytes) else bytes(block)))
        return size, ""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"data must be bytes, str, a Path, a file object or JSON-serializable ({exc})") from None
    return _write_all(fd, memoryview(text.encode("utf-8"))), "application/json"


def _write_all(fd: int, view: memoryview) -> int:
    done = 0
    while done < len(view):
        done += os.write(fd, view[done:])
    return done


def _copy_file(source: int, fd: int) -> int:
    """Copy ``source`` from its start to ``fd``'s position until its end; the number of bytes copied."""
    copied = 0
    try:
        while sent := os.sendfile(fd, source, copied, 64 * BLOCK):
            copied += sent
        return copied
    except (OSError, AttributeError):  # no sendfile between files here: the rest through a buffer
        pass
    if copied:  # sendfile moved fd's offset, not the source's (it was given an explicit one)
        os.lseek(source, copied, os.SEEK_SET)
    while block := os.read(source, BLOCK):
        copied += _write_all(fd, memoryview(block))
    return copied
