"""A tus PATCH body into the partial (``assets_app.services.upload_body``): the in-line path for small
bodies and the helper-thread path for large ones write and hash exactly the bytes received, stop
where the body stops, and raise a write error instead of hanging or losing it."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest

from assets_app.services import upload_body
from assets_app.services.upload_body import CHUNK, PIPELINE_MIN, body_store

SIZES = [0, 1, CHUNK - 1, PIPELINE_MIN - 1, PIPELINE_MIN, PIPELINE_MIN + CHUNK // 3, 3 * PIPELINE_MIN + 7]


class Trickle(io.RawIOBase):
    """A request body that returns at most ``piece`` bytes per read (as a socket does), then ends or fails."""

    def __init__(self, data: bytes, piece: int = 300_000, fail_after: int | None = None) -> None:
        self.data, self.pos, self.piece, self.fail_after = data, 0, piece, fail_after

    def read(self, size: int = -1) -> bytes:
        if self.fail_after is not None and self.pos >= self.fail_after:
            raise OSError("connection reset by peer")
        size = self.piece if size is None or size < 0 else min(size, self.piece)
        if self.fail_after is not None:
            size = min(size, self.fail_after - self.pos)
        out = self.data[self.pos : self.pos + size]
        self.pos += len(out)
        return out


@pytest.mark.parametrize("size", SIZES)
def test_every_byte_is_written_and_hashed_in_order(tmp_path, size):
    data = os.urandom(size)
    prefix = b"already committed"
    path = tmp_path / "partial"
    path.write_bytes(prefix)
    running, chunk_digest = hashlib.sha256(prefix), hashlib.md5()  # noqa: S324 - the tus checksum algorithms
    with open(path, "r+b") as fh:
        fh.seek(len(prefix))
        got = body_store(Trickle(data), fh, length=size, start=len(prefix), hashes=(running, chunk_digest, None))
    assert got == size
    assert path.read_bytes() == prefix + data
    assert running.hexdigest() == hashlib.sha256(prefix + data).hexdigest()
    assert chunk_digest.hexdigest() == hashlib.md5(data).hexdigest()  # noqa: S324


@pytest.mark.parametrize("size", [PIPELINE_MIN // 2, 2 * PIPELINE_MIN])
@pytest.mark.parametrize("how", ["ends", "fails"])
def test_a_body_that_stops_early_counts_what_arrived(tmp_path, size, how):
    data = os.urandom(size)
    cut = size * 3 // 5
    stream = Trickle(data[:cut]) if how == "ends" else Trickle(data, fail_after=cut)
    digest = hashlib.sha256()
    with open(tmp_path / "partial", "w+b") as fh:
        got = body_store(stream, fh, length=size, start=0, hashes=(digest,))
    assert got == (tmp_path / "partial").stat().st_size
    assert got <= cut and got > 0
    assert digest.hexdigest() == hashlib.sha256(data[:got]).hexdigest()


def test_no_stream_stores_nothing(tmp_path):
    with open(tmp_path / "partial", "w+b") as fh:
        assert body_store(None, fh, length=PIPELINE_MIN * 2, start=0, hashes=()) == 0


class FullDisk(io.BufferedRandom):
    """A partial whose disk fills after ``room`` bytes."""

    room = 5 * CHUNK // 2

    def write(self, data) -> int:
        if self.tell() + len(data) > self.room:
            raise OSError(28, "No space left on device")
        return super().write(data)


@pytest.mark.parametrize("size", [PIPELINE_MIN - 1, 4 * PIPELINE_MIN])
def test_a_write_error_is_raised_not_lost_and_nothing_hangs(tmp_path, size):
    data = os.urandom(size)
    before = threading.active_count()
    with FullDisk(open(tmp_path / "partial", "w+b", buffering=0)) as fh:  # noqa: SIM115
        with pytest.raises(OSError, match="No space left"):
            body_store(Trickle(data), fh, length=size, start=0, hashes=(hashlib.sha256(),))
    assert threading.active_count() == before  # the helper thread ended


def test_large_bodies_are_written_by_a_helper_thread_small_ones_in_line(tmp_path, monkeypatch):
    writers: list[str] = []
    real = upload_body._Sink.__call__

    def spy(self, data):
        writers.append(threading.current_thread().name)
        return real(self, data)

    monkeypatch.setattr(upload_body._Sink, "__call__", spy)
    for size in (PIPELINE_MIN - 1, PIPELINE_MIN):
        writers.clear()
        with open(tmp_path / f"p{size}", "w+b") as fh:
            body_store(Trickle(os.urandom(size)), fh, length=size, start=0, hashes=())
        assert set(writers) == ({threading.current_thread().name} if size < PIPELINE_MIN else {"upload-body"})


def test_the_reader_stays_a_bounded_number_of_pieces_ahead(tmp_path, monkeypatch):
    """Memory stays bounded: a slow disk holds the reader back (at most PIPELINE_DEPTH pieces queued)."""
    release = threading.Event()
    real = upload_body._Sink.__call__

    def slow(self, data):
        release.wait(5)
        return real(self, data)

    monkeypatch.setattr(upload_body._Sink, "__call__", slow)
    size = 20 * CHUNK
    stream = Trickle(os.urandom(size), piece=CHUNK)
    with open(tmp_path / "partial", "w+b") as fh:
        worker = threading.Thread(target=body_store, args=(stream, fh), kwargs={"length": size, "start": 0, "hashes": ()})
        worker.start()
        worker.join(0.5)
        ahead = stream.pos
        release.set()
        worker.join(10)
    assert ahead <= (upload_body.PIPELINE_DEPTH + 2) * CHUNK
    assert (tmp_path / "partial").stat().st_size == size
