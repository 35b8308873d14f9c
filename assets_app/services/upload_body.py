"""One tus PATCH body into its partial file: large pieces written past the page cache, hashed beside the reads.

``body_receive`` is the loop of ``upload_append`` (``uploads.py``), which keeps the
protocol's bookkeeping (offsets, checksum verdicts, publishing).

Invariants:
- The body is read in ``CHUNK`` (1 MiB) pieces; at most two are held at a time (the
  one being hashed, the one being read and written), whatever the upload's size.
- In a large body (at least ``DIRECT_MIN`` bytes) every piece that starts at a
  block-aligned offset (``ALIGN``) and is a whole number of blocks long is written
  with ``O_DIRECT`` from a per-thread aligned buffer: the bytes go to the disk
  without filling the page cache. Anything else — a small body, a piece at an
  unaligned offset (a resume after a body that was cut short), the tail of the
  file, a file system that refuses ``O_DIRECT`` (tmpfs), a platform without it —
  goes through the buffered file, and the kernel is asked to start writing those
  bytes back every ``WRITEBACK_EVERY`` bytes. Both reach the same file; the
  caller's ``fsync`` after the last byte makes either durable.
- In a large body the SHA-256 (and the digest of an ``Upload-Checksum``) of each
  piece is computed in a helper thread while the next piece is read and written
  (``hashlib`` releases the GIL). Pieces are hashed in order, one at a time, and
  ``body_receive`` returns only once every piece it read is in every digest.
- A body that ends before its length (a client that went away) is not an error
  here: ``body_receive`` returns the count received and the caller decides.

Why (docs/performance.md, *Uploads past the page cache*): on this project's
virtual machines a page the guest has never touched (or gave back to the host)
costs a fault on the host at first write — 64 MiB of fresh page cache measured
100–150 ms, against 15–25 ms for recycled pages — and an upload is written once
and read rarely, so keeping it cached only evicts hotter data. Hashing beside the
reads took 25–30 ms off a 64 MiB PATCH on two cores.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from .blobs import CHUNK

#: Pieces start and end on this boundary to be written with O_DIRECT (any disk's logical block divides it).
ALIGN = 4096
#: Bodies at least this long take the direct writes and the hashing thread; smaller ones stay on the plain path.
DIRECT_MIN = 4 * CHUNK
#: Start the writeback of what went through the page cache every this many bytes.
WRITEBACK_EVERY = 8 * 1024 * 1024

_local = threading.local()
_hasher_lock = threading.Lock()
_hasher: ThreadPoolExecutor | None = None
_hasher_pid = 0


def body_receive(
    *, stream: IO[bytes] | None, fh: IO[bytes], path: Path, start: int, length: int, digests: Sequence[Any]
) -> int:
    """Write up to ``length`` bytes of ``stream`` at ``start`` of the partial (open as ``fh`` at ``path``),
    updating each of ``digests`` with every byte in order; returns how many bytes arrived."""
    large = length >= DIRECT_MIN
    direct = _open_direct(path) if large else None
    pending: Future | None = None
    received = hinted = 0
    try:
        while received < length:
            try:
                data = stream.read(min(CHUNK, length - received)) if stream is not None else b""
            except OSError:  # includes UnreadablePostError: the client went away
                data = b""
            if not data:
                break
            position = start + received
            if direct is not None and position % ALIGN == 0 and len(data) % ALIGN == 0:
                if not _write_direct(direct, fh, position, data):
                    os.close(direct)
                    direct = None
            else:
                fh.seek(position)
                fh.write(data)
            received += len(data)
            if direct is None and received - hinted >= WRITEBACK_EVERY:
                _writeback_start(fh, start + hinted, received - hinted)
                hinted = received
            if large:
                if pending is not None:
                    pending.result()  # one piece in the hashing thread at a time: bounded memory, order kept
                pending = _hashing_pool().submit(_update, digests, data)
            else:
                _update(digests, data)
            del data
    finally:
        if pending is not None:
            pending.result()
        if direct is not None:
            os.close(direct)
        fh.flush()
    return received


def _update(digests: Sequence[Any], data: bytes) -> None:
    for digest in digests:
        digest.update(data)


def _open_direct(path: Path) -> int | None:
    """A write-only ``O_DIRECT`` descriptor of the partial, or None where the platform or file system has none."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, os.O_WRONLY | flag | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
            return None
        raise


def _aligned_buffer() -> mmap.mmap:
    """This thread's page-aligned ``CHUNK`` buffer (anonymous mappings are page-aligned), made once."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = mmap.mmap(-1, CHUNK)
    return buffer


def _write_direct(fd: int, fh: IO[bytes], position: int, data: bytes) -> bool:
    """Write ``data`` at ``position`` through ``fd`` (O_DIRECT); False when the kernel refused the alignment,
    in which case what was not written went through ``fh`` and the caller stops writing directly."""
    buffer = _aligned_buffer()
    size = len(data)
    buffer[:size] = data
    done = 0
    with memoryview(buffer) as view:
        try:
            while done < size:
                written = os.pwrite(fd, view[done:size], position + done)
                if written <= 0:
                    raise OSError(errno.EIO, "O_DIRECT write made no progress")
                done += written
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # a real I/O error (ENOSPC, EIO…): the request fails as any write would
                raise
            fh.seek(position + done)
            fh.write(data[done:])
            return False
    return True


def _writeback_start(fh: IO[bytes], start: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``start`` to disk now (not waiting for it).

    ``POSIX_FADV_DONTNEED`` on pages still dirty starts their writeback and leaves them
    cached; it never loses a byte (durability still comes from the caller's fsync).
    """
    fh.flush()
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fh.fileno(), start, length, os.POSIX_FADV_DONTNEED)


def _hashing_pool() -> ThreadPoolExecutor:
    """The process's hashing threads, made on first use in each process (threads do not survive a fork)."""
    global _hasher, _hasher_pid
    with _hasher_lock:
        if _hasher is None or _hasher_pid != os.getpid():
            _hasher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tus-hash")
            _hasher_pid = os.getpid()
        return _hasher
