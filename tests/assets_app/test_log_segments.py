"""Logs as append-only segments, on the file system and on an S3 object store (moto).

Each flush publishes one whole segment; a long-written log merges its loose
segments so it stays a bounded number of objects; readers never see a byte twice
or miss one, whatever moment of a merge they look at.
"""

from __future__ import annotations

import pytest

from assets_app import services, storage
from assets_app.models import Asset
from assets_app.services import logs
from tests.factories import ExecutionFactory
from tests.s3_support import storage_on_s3

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["filesystem", "s3"])
def backend(request, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    if request.param == "filesystem":
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(tmp_path / "media")},
            },
        }
        yield request.param
    else:
        server = request.getfixturevalue("moto_server")
        with storage_on_s3(settings, server, server.new_bucket()):
            yield request.param


def _expected(n: int) -> bytes:
    return b"".join(f"line {i}\n".encode() for i in range(n))


def test_many_flushes_merge_into_few_segments_and_read_back_exactly(backend, run, monkeypatch):
    monkeypatch.setattr(logs, "LOG_SEGMENTS_MERGE_AT", 4)
    log = services.log_open(run=run, execution=ExecutionFactory(run=run), name="train")
    for i in range(19):
        services.log_append_lines(asset=log, lines=[f"line {i}"])
        with Asset.objects.get(pk=log.pk).open() as fh:  # readable in order after every flush
            assert fh.read() == _expected(i + 1)
    segments = storage.list_segments(log.file.name)
    # 19 flushes: merges after flushes 4, 8, 12, 16 (each merges its trailing loose run) + 3 loose ones.
    assert len(segments) <= 7, segments
    assert len(storage.list_files(log.file.name)) == len(segments)  # merged-away segments are deleted
    assert services.log_tail(asset=log, max_lines=3) == ["line 16", "line 17", "line 18"]
    log.refresh_from_db()
    assert log.line_count == 19
    services.log_finalize(asset=log)
    log.refresh_from_db()
    assert log.read_bytes() == _expected(19) and storage.list_files(f"logs/run-{run.pk}/") == []


def test_a_reader_during_a_merge_skips_the_segments_it_covers(backend, run):
    log = services.log_open(run=run, execution=ExecutionFactory(run=run), name="train")
    for i in range(3):
        services.log_append_lines(asset=log, lines=[f"line {i}"])
    prefix = log.file.name
    loose = storage.list_files(prefix)
    first, last = storage.segment_stamp(loose[0])[0], storage.segment_stamp(loose[-1])[0]
    # The merged segment is published; the loose ones are not deleted yet.
    storage.put_bytes(f"{prefix}{last:020d}-m{first:020d}.seg", _expected(3))
    assert len(storage.list_files(prefix)) == 4
    with Asset.objects.get(pk=log.pk).open() as fh:
        assert fh.read() == _expected(3)
    assert services.log_tail(asset=log) == ["line 0", "line 1", "line 2"]
    services.log_append_lines(asset=log, lines=["line 3"])
    services.log_finalize(asset=log)
    log.refresh_from_db()
    assert log.read_bytes() == _expected(4)


def test_segment_stamps_keep_order_when_another_process_continues(backend, run):
    log = services.log_open(run=run, execution=ExecutionFactory(run=run), name="train")
    services.log_append_lines(asset=log, lines=["line 0"])
    newest = storage.segment_stamp(storage.list_files(log.file.name)[-1])[0]
    # A retry on a machine whose clock is behind: this process forgets its stamps (a new process).
    logs._segment_stamps.clear()
    future = f"{log.file.name}{newest + 10**12:020d}-ffffffff.seg"
    storage.put_bytes(future, b"line 1\n")
    services.log_append_lines(asset=log, lines=["line 2"])
    with Asset.objects.get(pk=log.pk).open() as fh:
        assert fh.read() == b"line 0\nline 1\nline 2\n"
