"""The client's spool copies (``molexp._spool``): taken at once, released once sent, a kept copy
overwritten in place by the next one, and the exact bytes whatever the path (SPEC §13)."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import molexp
import pytest
from molexp import _spool
from molexp._spool import SpoolFiles

from assets_app.models import Asset

from .test_client_live import editor_token, env, script_dir  # noqa: F401 - fixtures


@pytest.fixture
def files(tmp_path) -> SpoolFiles:
    return SpoolFiles(tmp_path / "spool" / "files", keep=True)


def test_every_kind_of_data_is_copied_exactly(files, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(3 * _spool.BLOCK + 7))
    cases = [
        (b"raw bytes", b"raw bytes", ""),
        (bytearray(b"array"), b"array", ""),
        ("text é", "text é".encode(), ""),
        (io.BytesIO(b"a file object" * 100_000), b"a file object" * 100_000, ""),
        ({"k": [1, 2]}, b'{"k": [1, 2]}', "application/json"),
        (source, source.read_bytes(), ""),
    ]
    for data, expected, media_type in cases:
        path, kind = files.copy(data)
        assert path.parent == files.folder and path.read_bytes() == expected and kind == media_type
        files.release(path)  # each next copy overwrites the kept one: every length, up and down
    assert list(files.folder.iterdir()) == []


def test_a_copy_is_taken_at_once(files, tmp_path):
    source = tmp_path / "ckpt.bin"
    source.write_bytes(b"epoch 1" * 1000)
    path, _ = files.copy(source)
    source.write_bytes(b"epoch 2")  # the training loop overwrites its checkpoint right after save
    assert path.read_bytes() == b"epoch 1" * 1000


def test_a_released_copy_is_kept_once_and_overwritten_in_place(files, tmp_path):
    first, _ = files.copy(b"x" * 5_000_000)
    inode = first.stat().st_ino
    files.release(first)
    assert not first.exists() and list(files.folder.iterdir()) == []
    kept = files.folder.parent / "reuse.bin"
    assert kept.stat().st_ino == inode
    second, _ = files.copy(b"y" * 1_000)  # shorter: the kept file is cut to the new length
    assert second.stat().st_ino == inode and second.read_bytes() == b"y" * 1_000 and not kept.exists()
    third, _ = files.copy(b"z" * 10)  # nothing kept now (second is not released): a new file
    assert third.stat().st_ino != inode
    files.release(second)
    files.release(third)  # one copy is kept at most: this one is removed
    assert kept.exists() and list(files.folder.iterdir()) == []
    files.close()
    assert not kept.exists()


def test_large_copies_and_offline_copies_are_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(_spool, "KEEP_MAX_BYTES", 100)
    online = SpoolFiles(tmp_path / "a" / "files", keep=True)
    path, _ = online.copy(b"x" * 101)
    online.release(path)
    assert not path.exists() and not (tmp_path / "a" / "reuse.bin").exists()
    offline = SpoolFiles(tmp_path / "b" / "files", keep=False)
    path, _ = offline.copy(b"x")
    offline.release(path)
    assert not path.exists() and not (tmp_path / "b" / "reuse.bin").exists()


def test_without_sendfile_between_files_the_copy_goes_through_a_buffer(files, tmp_path, monkeypatch):
    def refuse(*_args):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(_spool.os, "sendfile", refuse)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(2 * _spool.BLOCK + 1))
    path, _ = files.copy(source)
    assert path.read_bytes() == source.read_bytes()


def test_sendfile_failing_midway_goes_on_through_a_buffer(files, tmp_path, monkeypatch):
    real, calls = os.sendfile, []

    def once(out, source, offset, count):
        calls.append(offset)
        if len(calls) > 1:
            raise OSError(22, "Invalid argument")
        return real(out, source, offset, min(count, _spool.BLOCK + 3))

    monkeypatch.setattr(_spool.os, "sendfile", once)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * _spool.BLOCK + 11))
    path, _ = files.copy(source)
    assert calls == [0, _spool.BLOCK + 3] and path.read_bytes() == source.read_bytes()


def test_a_pipe_is_copied_too(files, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    payload = os.urandom(200_000)

    def feed():
        with open(fifo, "wb") as fh:
            fh.write(payload)

    writer = threading.Thread(target=feed)
    writer.start()
    path, _ = files.copy(fifo)
    writer.join()
    assert path.read_bytes() == payload


def test_a_failed_copy_leaves_no_file(files):
    with pytest.raises(TypeError, match="JSON-serializable"):
        files.copy(object())
    assert list(files.folder.iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_consecutive_saves_reach_the_server_exactly(live_server, env, ws, project, editor_token, script_dir, tmp_path):  # noqa: F811
    """Each save after the first overwrites the previous, already sent copy: the server has every version."""
    source = tmp_path / "model.pt"
    sizes = [3 * _spool.BLOCK + 5, _spool.BLOCK, 2 * _spool.BLOCK + 99, 17]
    sent = []
    client = molexp.Client(url=live_server.url, token=editor_token)
    with client.start_run(f"{ws.slug}/{project.slug}/spool", create_experiment=True,
                          script=script_dir / "train.py") as ctx:  # fmt: skip
        for size in sizes:
            source.write_bytes(os.urandom(size))
            sent.append(hashlib.sha256(source.read_bytes()).hexdigest())
            ctx.artifact.save("model.pt", source)
            assert ctx.flush() is True
        assert (ctx.spool / "reuse.bin").exists()  # the last sent copy, kept for a next save
    versions = Asset.objects.filter(run_id=ctx.id, kind="artifact", name="model.pt").order_by("version")
    assert [a.sha256 for a in versions] == sent and [a.size for a in versions] == sizes
    assert not ctx.spool.exists()
