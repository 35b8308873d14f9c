"""Blob garbage collection (SPEC §14): frees only unreferenced bytes, never bytes a writer is about to use.

Every test runs on the file system and on S3 (moto's server), asserting on what the
storage itself holds. "Old" objects are made by waiting past a one-second grace period,
so the same code path as production decides what is a candidate.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from assets_app import services, storage
from assets_app.models import Asset, BlobClaim, Upload
from tests import factories as f
from tests.s3_support import storage_backend

GRACE = 1


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _age_past_grace() -> None:
    time.sleep(GRACE + 1.1)  # S3 LastModified has one-second resolution


@pytest.fixture(params=["fs", "s3"])
def backend(request, settings, tmp_path):
    """The asset storage on a private folder, or on a fresh bucket of moto's S3 server."""
    settings.MOLEXP_UPLOAD_DIR = str(tmp_path / "uploads")
    Path(settings.MOLEXP_UPLOAD_DIR).mkdir()
    return storage_backend(request, settings, tmp_path, request.param)


def _names(prefix: str) -> set[str]:
    return {o.name for o in storage.walk(prefix)}


@pytest.mark.django_db
def test_gc_frees_only_unreferenced_bytes_and_the_shared_blob_still_downloads(backend, run):
    shared, lonely = b"shared bytes " * 1000, b"nobody uses me " * 500
    blob = services.blob_store_bytes(shared)
    keeper = services.asset_create(kind="artifact", name="model.bin", run=run, blob=blob)
    gone = services.asset_create(kind="artifact", name="model.bin", run=f.RunFactory(experiment=run.experiment),
                                 blob=services.blob_store_bytes(shared))  # fmt: skip
    purged = services.asset_create(kind="artifact", name="tmp.bin", run=run, blob=services.blob_store_bytes(lonely))
    gone.delete()
    purged.delete()  # its bytes are now unreferenced
    _age_past_grace()

    dry = services.blob_gc(dry_run=True, grace_seconds=GRACE)
    assert (dry.objects, dry.bytes) == (1, len(lonely))
    assert _names("blobs/") == {blob.name, purged.file.name}  # a dry run changes nothing

    report = services.blob_gc(grace_seconds=GRACE)
    assert report.kinds["blobs"] == {"objects": 1, "bytes": len(lonely)}
    assert _names("blobs/") == {blob.name}
    keeper.refresh_from_db()
    assert _sha(keeper.read_bytes()) == keeper.sha256 == _sha(shared)
    assert services.blob_gc(grace_seconds=GRACE).objects == 0  # nothing left to free
    assert not BlobClaim.objects.filter(name=purged.file.name).exists()
    assert not BlobClaim.objects.exists()  # the old claims of the kept blob protect nothing any more


@pytest.mark.django_db
def test_gc_keeps_recent_objects_whatever_references_them(backend, run):
    services.blob_store_bytes(b"just written, not registered yet")
    report = services.blob_gc(grace_seconds=3600)
    assert report.objects == 0
    assert len(_names("blobs/")) == 1


@pytest.mark.django_db
def test_writer_reusing_stored_bytes_during_collection_never_loses_them(backend, run):
    """The writer found the bytes stored (so it wrote nothing) and registers them after the collection ran."""
    reused, other = b"same content again " * 700, b"really unreferenced " * 300
    old = services.asset_create(kind="artifact", name="a.bin", run=run, blob=services.blob_store_bytes(reused))
    doomed = services.blob_store_bytes(other)
    old.delete()
    _age_past_grace()

    blob = services.blob_store_bytes(reused)  # dedup: exists already, nothing is written
    report = services.blob_gc(grace_seconds=GRACE)  # the collection at that moment
    asset = services.asset_create(kind="artifact", name="b.bin", run=run, blob=blob)

    assert report.kinds["blobs"]["objects"] == 1  # it did collect: the other old blob went
    assert doomed.name not in _names("blobs/")
    assert asset.read_bytes() == reused
    assert _sha(asset.read_bytes()) == asset.sha256


@pytest.mark.django_db(transaction=True)
def test_writers_racing_a_collection_never_lose_their_bytes(backend):
    """Writers store the content of old, unreferenced blobs at the moment the collection deletes them."""
    run = f.RunFactory()
    contents = [f"content {i} ".encode() * 2000 for i in range(6)]
    for data in contents:
        services.blob_store_bytes(data)
    _age_past_grace()

    start = threading.Barrier(len(contents) + 1)
    results: dict[int, Asset | BaseException] = {}

    def writer(i: int) -> None:
        try:
            start.wait(timeout=30)
            time.sleep(0.01 * i)  # spread the writers over the collection
            blob = services.blob_store_bytes(contents[i])
            results[i] = services.asset_create(kind="artifact", name=f"w{i}.bin", run=run, blob=blob)
        except BaseException as exc:  # reported by the assertion below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(contents))]
    for t in threads:
        t.start()
    start.wait(timeout=30)
    services.blob_gc(grace_seconds=GRACE)
    for t in threads:
        t.join(timeout=60)

    assert sorted(results) == list(range(len(contents)))
    for i, asset in results.items():
        assert isinstance(asset, Asset), asset
        assert asset.read_bytes() == contents[i], f"writer {i} lost its bytes"
    # And afterwards nothing referenced is collectable.
    _age_past_grace()
    assert services.blob_gc(grace_seconds=GRACE).objects == 0
    assert all(Asset.objects.get(pk=a.pk).read_bytes() == contents[i] for i, a in results.items())


@pytest.mark.django_db
def test_gc_frees_code_files_no_run_lists(backend):
    kept, helper, dropped = b"print('kept')\n", b"HELPER = 1\n", b"print('dropped')\n"
    for data in (kept, helper, dropped):
        storage.put_bytes(storage.code_blob_name(_sha(data)), data)
    f.RunFactory(workflow_snapshot={"files": {"wf.py": {"sha256": _sha(kept), "size": len(kept)}}})
    f.RunFactory(workflow_snapshot={"files": {"wf.py": {"sha256": _sha(kept)}, "lib/h.py": {"sha256": _sha(helper)}}})
    # manifests without a mapping of entries name nothing, and do not stop the collection
    for odd in ({}, {"files": None}, {"files": "x"}, {"files": {"a.py": "not an entry"}}, {"files": {"b.py": {}}}):
        f.RunFactory(workflow_snapshot=odd)
    _age_past_grace()

    report = services.blob_gc(grace_seconds=GRACE)
    assert report.kinds["code"] == {"objects": 1, "bytes": len(dropped)}
    assert _names("code/") == {storage.code_blob_name(_sha(kept)), storage.code_blob_name(_sha(helper))}


@pytest.mark.django_db
def test_gc_frees_partial_uploads_no_upload_row_names(backend, settings, ws, owner):
    folder = Path(settings.MOLEXP_UPLOAD_DIR)
    live = Upload.objects.create(workspace=ws, created_by=owner, filename="a.csv", name="a.csv", length=10,
                                 partial_name=f"uploads/{'cd' * 16}.part", expires_at=timezone.now())  # fmt: skip
    (folder / f"{'cd' * 16}.part").write_bytes(b"y" * 7)
    orphan = folder / f"{'ab' * 16}.part"
    orphan.write_bytes(b"x" * 123)
    _age_past_grace()

    report = services.blob_gc(grace_seconds=GRACE)
    assert report.kinds["uploads"] == {"objects": 1, "bytes": 123}
    assert not orphan.exists()
    assert (folder / live.partial_name.removeprefix("uploads/")).exists()


@pytest.mark.django_db
def test_gc_command_reports_objects_and_bytes(backend, run):
    data = b"purged run's artifact " * 100
    services.asset_create(kind="artifact", name="x.bin", run=run, blob=services.blob_store_bytes(data)).delete()
    _age_past_grace()

    out = StringIO()
    call_command("gc", "--dry-run", "--grace-seconds", str(GRACE), stdout=out)
    assert f"total: would free 1 objects, {len(data)} bytes" in out.getvalue()
    assert len(_names("blobs/")) == 1
    out = StringIO()
    call_command("gc", "--grace-seconds", str(GRACE), "--json", stdout=out)
    assert json.loads(out.getvalue())["bytes"] == len(data)
    assert _names("blobs/") == set()
