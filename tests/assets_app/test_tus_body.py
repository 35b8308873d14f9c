"""A large tus PATCH body (``upload_body``): written past the page cache where the file system allows it,
hashed in a helper thread, and the same bytes and bookkeeping on every path (direct, buffered, mixed)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import time

import pytest

from assets_app.choices import UploadStatus
from assets_app.models import Asset, Upload
from assets_app.services import upload_body
from assets_app.services.blobs import CHUNK

from . import test_tus_protocol as tus
from .test_tus_protocol import OCTETS, TUS, ShortBody, new_upload, patch, sha256_header

media = pytest.fixture(tus.media.__wrapped__, name="media")
as_editor = pytest.fixture(tus.as_editor.__wrapped__, name="as_editor")

SIZE = 9 * CHUNK + 12_345  # past DIRECT_MIN, with an unaligned tail


def _direct_supported(folder) -> bool:
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    probe = folder / "direct-probe"
    probe.write_bytes(b"")
    try:
        os.close(os.open(probe, os.O_WRONLY | flag))
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


@pytest.fixture
def direct_writes(monkeypatch):
    """Counts the pieces written with O_DIRECT (the real function runs)."""
    calls: list[int] = []
    real = upload_body._write_direct

    def counting(fd, fh, position, data):
        calls.append(position)
        return real(fd, fh, position, data)

    monkeypatch.setattr(upload_body, "_write_direct", counting)
    return calls


def _published(data: bytes) -> Asset:
    asset = Asset.objects.get()
    assert asset.sha256 == hashlib.sha256(data).hexdigest() and asset.size == len(data)
    with asset.open() as fh:
        assert fh.read() == data
    return asset


def test_a_large_body_is_written_directly_where_the_file_system_allows(as_editor, ws, media, direct_writes):
    if not _direct_supported(media):
        pytest.skip("this file system refuses O_DIRECT (tmpfs?): the buffered path is tested below")
    data = os.urandom(SIZE)
    location = new_upload(as_editor, ws, data)
    assert patch(as_editor, location, data, 0).status_code == 204
    assert direct_writes == [k * CHUNK for k in range(9)]  # whole aligned pieces; the 12 345-byte tail buffered
    _published(data)


def test_a_small_body_stays_on_the_plain_path(as_editor, ws, media, direct_writes):
    data = os.urandom(upload_body.DIRECT_MIN - 1)
    location = new_upload(as_editor, ws, data)
    assert patch(as_editor, location, data, 0).status_code == 204
    assert direct_writes == []
    _published(data)


@pytest.mark.parametrize("cut", [3 * CHUNK, 3 * CHUNK + 999], ids=["aligned resume", "unaligned resume"])
def test_a_cut_body_resumed_at_any_offset_publishes_every_byte(as_editor, ws, media, direct_writes, cut):
    """The first PATCH ends early; the resume starts at ``cut``: aligned, it writes directly again from
    there; unaligned, every piece goes through the page cache. Same bytes either way."""
    data = os.urandom(SIZE)
    location = new_upload(as_editor, ws, data)
    response = as_editor.generic(
        "PATCH", location, b"", content_type=OCTETS, HTTP_UPLOAD_OFFSET="0",
        CONTENT_LENGTH=str(len(data)), **{"wsgi.input": ShortBody(data[:cut])}, **TUS,
    )  # fmt: skip
    assert response.status_code == 400
    assert Upload.objects.get().offset == cut
    del direct_writes[:]
    assert patch(as_editor, location, data[cut:], cut).status_code == 204
    if _direct_supported(media):
        if cut % upload_body.ALIGN == 0:
            assert direct_writes and direct_writes[0] == cut
        else:
            assert direct_writes == []
    _published(data)


def test_a_file_system_without_o_direct_takes_the_buffered_path(as_editor, ws, media, direct_writes, monkeypatch):
    real_open = os.open

    def refusing(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "Invalid argument")  # what tmpfs answers
        return real_open(path, flags, *args)

    monkeypatch.setattr(upload_body.os, "open", refusing)
    data = os.urandom(SIZE)
    location = new_upload(as_editor, ws, data)
    assert patch(as_editor, location, data, 0).status_code == 204
    assert direct_writes == []
    _published(data)


def test_a_refused_direct_write_midway_goes_on_buffered(as_editor, ws, media, monkeypatch):
    """A device that refuses the alignment on the third piece: that piece and the rest go through the page cache."""
    if not _direct_supported(media):
        pytest.skip("this file system refuses O_DIRECT")
    real_pwrite, seen = os.pwrite, []

    def pwrite(fd, data, position):
        seen.append(position)
        if len(seen) == 3:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, position)

    monkeypatch.setattr(upload_body.os, "pwrite", pwrite)
    data = os.urandom(SIZE)
    location = new_upload(as_editor, ws, data)
    assert patch(as_editor, location, data, 0).status_code == 204
    assert seen == [0, CHUNK, 2 * CHUNK]
    _published(data)


@pytest.mark.parametrize("good", [True, False], ids=["checksum matches", "checksum differs"])
def test_a_large_checksummed_body_is_verified_by_the_hashing_thread(as_editor, ws, media, good):
    data = os.urandom(SIZE)
    location = new_upload(as_editor, ws, data)
    header = sha256_header(data if good else data[:-1] + bytes([data[-1] ^ 1]))
    response = patch(as_editor, location, data, 0, HTTP_UPLOAD_CHECKSUM=header)
    upload = Upload.objects.get()
    if good:
        assert response.status_code == 204 and upload.status == UploadStatus.COMPLETE
        _published(data)
    else:
        assert response.status_code == 460
        assert upload.offset == 0 and (media / upload.partial_name).stat().st_size == 0
        assert not Asset.objects.exists()


def test_pieces_are_hashed_in_order_one_at_a_time(tmp_path):
    """``body_receive`` itself: every digest sees the bytes in order and at most one piece waits in the thread."""
    data = os.urandom(SIZE)
    path = tmp_path / "partial"
    path.write_bytes(b"")
    in_flight, peak = [0], [0]

    class Watching:
        def __init__(self) -> None:
            self.inner = hashlib.sha256()

        def update(self, piece: bytes) -> None:  # the pool has several threads: only waiting keeps this at 1
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            time.sleep(0.002)  # slower than reading a piece: pieces would pile up in the threads if not waited for
            self.inner.update(piece)
            in_flight[0] -= 1

    class Body:
        def __init__(self) -> None:
            self.offset = 0

        def read(self, size: int) -> bytes:
            piece = data[self.offset : self.offset + size]
            self.offset += len(piece)
            return piece

    first, second = Watching(), hashlib.md5()
    with open(path, "r+b") as fh:
        received = upload_body.body_receive(stream=Body(), fh=fh, path=path, start=0, length=len(data),
                                            digests=[first, second])  # fmt: skip
    assert received == len(data) and path.read_bytes() == data
    assert first.inner.hexdigest() == hashlib.sha256(data).hexdigest()
    assert second.hexdigest() == hashlib.md5(data).hexdigest()
    assert peak == [1]


class Pieces:
    """A request body that answers each read with at most the next of ``sizes`` bytes (as a socket
    can), cycling through them; ``fail_at``: raise ``OSError`` (a reset) once that many bytes went."""

    def __init__(self, data: bytes, sizes: list[int], fail_at: int | None = None) -> None:
        self.data, self.sizes, self.fail_at, self.offset, self.reads = data, sizes, fail_at, 0, 0

    def read(self, size: int) -> bytes:
        if self.fail_at is not None and self.offset >= self.fail_at:
            raise OSError("connection reset by peer")
        size = min(size, self.sizes[self.reads % len(self.sizes)])
        if self.fail_at is not None:
            size = min(size, self.fail_at - self.offset)
        self.reads += 1
        piece = self.data[self.offset : self.offset + size]
        self.offset += len(piece)
        return piece


def _receive(tmp_path, stream, length: int, prefix: bytes = b""):
    path = tmp_path / "partial"
    path.write_bytes(prefix)
    digest = hashlib.sha256(prefix)
    with open(path, "r+b") as fh:
        got = upload_body.body_receive(stream=stream, fh=fh, path=path, start=len(prefix), length=length,
                                       digests=[digest])  # fmt: skip
    return got, path.read_bytes(), digest.hexdigest()


@pytest.mark.parametrize(
    "sizes",
    [[300_000], [CHUNK, 1000, CHUNK, upload_body.ALIGN - 1000], [upload_body.ALIGN * 3, 7]],
    ids=["socket-sized reads", "unaligned then aligned again", "small aligned reads"],
)
def test_short_reads_mix_both_paths_and_keep_every_byte(tmp_path, direct_writes, sizes):
    """Reads shorter than asked move the position off the block boundary and sometimes back onto it:
    pieces go direct or buffered as they fall, and the file and the hash hold every byte in order."""
    data, prefix = os.urandom(SIZE), b"c" * upload_body.ALIGN
    got, stored, digest = _receive(tmp_path, Pieces(data, sizes), len(data), prefix=prefix)
    assert got == len(data) and stored == prefix + data
    assert digest == hashlib.sha256(prefix + data).hexdigest()
    if sizes[0] == CHUNK and _direct_supported(tmp_path):
        # direct at the start, buffered from the 1 000-byte read on, direct again once realigned
        realigned = upload_body.ALIGN + 2 * CHUNK + upload_body.ALIGN
        assert direct_writes[0] == upload_body.ALIGN and realigned in direct_writes


def test_a_large_body_reset_midway_counts_what_arrived(tmp_path):
    data = os.urandom(SIZE)
    cut = 5 * CHUNK + 777
    got, stored, digest = _receive(tmp_path, Pieces(data, [CHUNK], fail_at=cut), len(data))
    assert got == cut and stored == data[:cut]
    assert digest == hashlib.sha256(data[:cut]).hexdigest()


def test_no_body_stores_nothing(tmp_path):
    assert _receive(tmp_path, None, SIZE) == (0, b"", hashlib.sha256().hexdigest())


@pytest.mark.parametrize("where", ["direct", "buffered"])
def test_a_full_disk_is_raised_not_swallowed(tmp_path, monkeypatch, where):
    """ENOSPC is no alignment refusal: it fails the request (the caller commits nothing past its offset)."""
    if where == "direct":
        if not _direct_supported(tmp_path):
            pytest.skip("this file system refuses O_DIRECT")

        def full(fd, data, position):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(upload_body.os, "pwrite", full)
    else:
        monkeypatch.setattr(upload_body, "_open_direct", lambda path: None)

    class FullFile(io.BufferedRandom):
        def write(self, data) -> int:
            if where == "buffered" and self.tell() >= 2 * CHUNK:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    path = tmp_path / "partial"
    path.write_bytes(b"")
    with FullFile(open(path, "r+b", buffering=0)) as fh:  # noqa: SIM115
        with pytest.raises(OSError, match="No space left"):
            upload_body.body_receive(stream=Pieces(os.urandom(SIZE), [CHUNK]), fh=fh, path=path, start=0,
                                     length=SIZE, digests=[hashlib.sha256()])  # fmt: skip
