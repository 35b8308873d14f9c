"""Asset bytes on an S3-compatible object store (django-storages against a real S3 API server: moto).

Everything that stores or reads asset bytes must work unchanged when
``MOLEXP_STORAGE_BACKEND`` is S3: blobs, logs (written as segments, tailed while
live, joined at the end), downloads with ``Range``, data-library imports and tus
uploads. Each test asserts on the bucket itself, so a file quietly written to the
local disk instead would fail it.
"""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from tusclient import client as tus_client

from assets_app import services
from assets_app.models import Asset, DataAsset
from tests.factories import ExecutionFactory

pytestmark = pytest.mark.django_db


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def local_media(settings, tmp_path):
    """A private MEDIA_ROOT (temporary files only): asset bytes must never land in it."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _local_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_blobs_are_objects_in_the_bucket_stored_once(s3_bucket, moto_server, run, local_media):
    data = b"x" * 3_000_000
    first = services.blob_store_bytes(data)
    second = services.blob_store_bytes(data)
    assert first == second and first.sha256 == _sha(data)
    assert moto_server.keys(s3_bucket) == [f"blobs/{first.sha256[:2]}/{first.sha256[2:4]}/{first.sha256}"]
    assert moto_server.get(s3_bucket, first.name) == data
    asset = services.asset_create(kind="artifact", name="model.bin", run=run, blob=first)
    assert asset.read_bytes() == data
    assert _local_files(local_media) == []


def test_streaming_reader_seeks_with_ranged_gets(s3_bucket, run):
    data = bytes(range(256)) * 20_000
    asset = services.asset_create(kind="artifact", name="a.bin", run=run, blob=services.blob_store_bytes(data))
    with asset.open() as fh:
        assert fh.size == len(data)
        fh.seek(1_000_001)
        assert fh.read(10) == data[1_000_001:1_000_011]
        assert fh.read(5) == data[1_000_011:1_000_016]  # continues the same GET
        fh.seek(-7, io.SEEK_END)
        assert fh.read() == data[-7:]
        assert fh.read() == b""
    with pytest.raises(FileNotFoundError):
        from assets_app import storage

        storage.open_read("blobs/no/such/object")


def test_log_segments_tail_while_live_then_one_blob(s3_bucket, moto_server, run, local_media):
    execution = ExecutionFactory(run=run)
    log = services.log_open(run=run, execution=execution, name="train")
    services.log_append_lines(asset=log, lines=[f"epoch {i}" for i in range(5)])
    services.log_append_lines(asset=log, lines=["done"])
    prefix = log.file.name
    assert prefix.endswith("/") and len(moto_server.keys(s3_bucket, prefix)) == 2
    assert services.log_tail(asset=log, max_lines=3) == ["epoch 3", "epoch 4", "done"]
    assert services.log_tail(asset=log, max_lines=100, max_bytes=12) == ["done"]  # a cut first line is dropped
    with Asset.objects.get(pk=log.pk).open() as fh:  # a live log downloads as its segments joined
        assert fh.read() == b"epoch 0\nepoch 1\nepoch 2\nepoch 3\nepoch 4\ndone\n"

    services.log_finalize(asset=log)
    log.refresh_from_db()
    text = b"epoch 0\nepoch 1\nepoch 2\nepoch 3\nepoch 4\ndone\n"
    assert (log.line_count, log.size, log.sha256) == (6, len(text), _sha(text))
    assert moto_server.keys(s3_bucket, prefix) == []  # segments removed after the row points at the blob
    assert moto_server.get(s3_bucket, log.file.name) == text
    assert "epoch" in log.search_text
    assert services.log_tail(asset=log, max_lines=2) == ["epoch 4", "done"]

    # A retry writes the same log again: it continues after the finalized bytes.
    again = services.log_open(run=run, execution=ExecutionFactory(run=run, number=2), name="train")
    assert again.pk == log.pk and again.file.name.endswith("/")
    services.log_append_lines(asset=again, lines=["retry"])
    services.log_finalize(asset=again)
    again.refresh_from_db()
    assert again.read_bytes() == text + b"retry\n" and again.line_count == 7
    assert _local_files(local_media) == []


def test_download_with_range_streams_from_the_bucket(s3_bucket, run, api_client_for):
    data = b"0123456789" * 100_000
    asset = services.asset_create(kind="artifact", name="big.bin", run=run, blob=services.blob_store_bytes(data))
    client = api_client_for("viewer")
    whole = client.get(f"/api/assets/{asset.pk}/content/")
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == data
    assert whole["X-Content-Type-Options"] == "nosniff" and "attachment" in whole["Content-Disposition"]
    part = client.get(f"/api/assets/{asset.pk}/content/", HTTP_RANGE="bytes=500000-500009")
    assert part.status_code == 206 and b"".join(part.streaming_content) == data[500000:500010]
    assert part["Content-Range"] == f"bytes 500000-500009/{len(data)}"


def test_data_library_copy_and_move_go_to_the_bucket(s3_bucket, moto_server, ws, settings, tmp_path, local_media):
    source = tmp_path / "import"
    source.mkdir()
    settings.MOLEXP_IMPORT_ROOTS = [str(source)]
    (source / "a.csv").write_bytes(b"smiles\nCCO\n")
    (source / "b.csv").write_bytes(b"smiles\nCCN\n")
    copied = ws.data_assets.import_asset("a.csv", str(source / "a.csv"))
    moved = ws.data_assets.import_asset("b.csv", str(source / "b.csv"), action="move")
    assert copied.read_bytes() == b"smiles\nCCO\n" and moved.read_bytes() == b"smiles\nCCN\n"
    assert not (source / "b.csv").exists() and (source / "a.csv").exists()
    assert {copied.file.name, moved.file.name} <= set(moto_server.keys(s3_bucket))
    assert _local_files(local_media) == []


@pytest.mark.django_db(transaction=True)
def test_tus_upload_lands_in_the_bucket(s3_bucket, moto_server, live_server, ws, editor, local_media):
    data = hashlib.sha256(b"seed").digest() * 40_000 + b"tail"
    token = Token.objects.create(user=editor)
    client = tus_client.TusClient(f"{live_server.url}/api/uploads/", headers={"Authorization": f"Token {token.key}"})
    uploader = client.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=300_000,
        metadata={"filename": "ligands.csv", "workspace": str(ws.pk)},
        upload_checksum=True,
    )
    uploader.upload()
    asset = DataAsset.objects.get(pk=uploader.request.response_headers["molexp-asset-id"])
    assert asset.sha256 == _sha(data) and asset.size == len(data)
    assert moto_server.get(s3_bucket, asset.file.name) == data
    assert [p for p in _local_files(local_media) if not p.startswith("uploads/")] == []
    assert [p for p in _local_files(local_media) if p.startswith("uploads/") and p.endswith(".part")] == []


def test_storage_check_command_passes_on_the_bucket_and_names_the_failing_step(s3_bucket, moto_server, settings):
    out = io.StringIO()
    call_command("storage_check", stdout=out)
    assert f"storages.backends.s3.S3Storage at {s3_bucket}" in out.getvalue()
    assert moto_server.keys(s3_bucket) == []  # the probe is removed
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {**settings.STORAGES["default"]["OPTIONS"],
                                                               "bucket_name": "no-such-bucket"}},
    }  # fmt: skip
    with pytest.raises(CommandError, match="asset storage check failed at write"):
        call_command("storage_check")
