"""A tus PATCH body into the partial file: read, write, hash (the running SHA-256 and a chunk's
``Upload-Checksum`` digest), and ask the kernel to start writing back as it goes.

Invariants:
- Memory stays bounded whatever the body size: the body is read in ``CHUNK`` (1 MiB) pieces
  and at most ``PIPELINE_DEPTH`` pieces wait to be written.
- Every byte counted as received is written to the partial and fed to every hash, in order,
  before ``body_store`` returns; a write error (disk full) is raised, never swallowed.
- A body that ends before its length (the client went away: an ``OSError`` from the
  stream, or an empty read) returns the count received; the caller decides what to commit.
- Bodies of ``PIPELINE_MIN`` bytes or more are written and hashed by one helper thread while
  the request thread reads the next piece: the socket read, the write and SHA-256 all
  release the GIL, so on two cores the hash no longer waits for the read (a 64 MiB PATCH:
  the ~40 ms of hashing overlap the ~80 ms of reading). Smaller bodies are handled in
  line: a thread would cost more than it overlaps.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable
from typing import IO, Any

from .blobs import CHUNK

#: Ask the kernel to start writing back every this many new bytes (the final fsync then waits for
#: the tail only, not for the whole file).
WRITEBACK_EVERY = 8 * 1024 * 1024
#: Bodies at least this large are written and hashed by a helper thread.
PIPELINE_MIN = 4 * CHUNK
#: Pieces read but not yet written, at most (memory: this many × ``CHUNK``).
PIPELINE_DEPTH = 4


def writeback_start(fh: IO[bytes], start: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``start`` to disk now (not waiting for it).

    ``POSIX_FADV_DONTNEED`` on pages still dirty starts their writeback and leaves them
    cached; it never loses a byte (durability still comes from the final fsync).
    """
    fh.flush()
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fh.fileno(), start, length, os.POSIX_FADV_DONTNEED)


class _Sink:
    """Writes pieces at the file's position and feeds them to the hashes, hinting writeback."""

    def __init__(self, fh: IO[bytes], start: int, hashes: Iterable[Any]) -> None:
        self.fh, self.start, self.hashes = fh, start, [h for h in hashes if h is not None]
        self.written = self.hinted = 0

    def __call__(self, data: bytes) -> None:
        self.fh.write(data)
        for digest in self.hashes:
            digest.update(data)
        self.written += len(data)
        if self.written - self.hinted >= WRITEBACK_EVERY:
            writeback_start(self.fh, self.start + self.hinted, self.written - self.hinted)
            self.hinted = self.written


def _read(stream: IO[bytes] | None, size: int) -> bytes:
    if stream is None:
        return b""
    try:
        return stream.read(size)
    except OSError:  # includes UnreadablePostError: the client went away
        return b""


def body_store(stream: IO[bytes] | None, fh: IO[bytes], *, length: int, start: int, hashes: Iterable[Any]) -> int:
    """Read up to ``length`` bytes of ``stream`` into ``fh`` (positioned at ``start``), feeding ``hashes``.

    Returns the number of bytes received, written and hashed (less than ``length`` when the
    body ended early); ``fh`` is flushed. Raises what a write raised (the bytes before it
    are in the file; the caller's offset bookkeeping decides what counts).
    """
    sink = _Sink(fh, start, hashes)
    if length < PIPELINE_MIN:
        while sink.written < length and (data := _read(stream, min(CHUNK, length - sink.written))):
            sink(data)
        fh.flush()
        return sink.written
    pieces: queue.Queue[bytes | None] = queue.Queue(maxsize=PIPELINE_DEPTH)
    failure: list[BaseException] = []

    def drain() -> None:
        try:
            while (data := pieces.get()) is not None:
                sink(data)
        except BaseException as exc:  # noqa: BLE001 - handed to the request thread, which raises it
            failure.append(exc)
            while pieces.get() is not None:  # keep taking so the reader never blocks on a full queue
                pass

    helper = threading.Thread(target=drain, name="upload-body", daemon=True)
    helper.start()
    received = 0
    try:
        while received < length and not failure and (data := _read(stream, min(CHUNK, length - received))):
            pieces.put(data)
            received += len(data)
    finally:
        pieces.put(None)
        helper.join()
    if failure:
        raise failure[0]
    fh.flush()
    return sink.written
