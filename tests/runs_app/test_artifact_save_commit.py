"""``ctx.artifact.save`` (issue 13): the bytes are staged before any transaction, then the blob's claim
and the asset row commit together (one commit); a refused save leaves no claim and no temporary file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets_app.models import BlobClaim
from molexp_site.errors import QuotaExceeded
from runs_app.workflow.context import RunContext

from .. import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ctx(tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(tmp_path / "store")}},
    }
    settings.MEDIA_ROOT = str(tmp_path / "store")
    run = f.RunFactory()
    return RunContext(run=run, execution=f.ExecutionFactory(run=run), workdir=tmp_path / "work")


def _temp_files() -> list[Path]:
    return list((Path(settings.MEDIA_ROOT) / "tmp").glob("*.part"))


@pytest.mark.parametrize("kind", ["bytes", "str", "json", "path", "fileobj"])
def test_save_claims_and_registers_in_one_commit(ctx, kind):
    (ctx.workdir / "w.bin").write_bytes(b"weights")
    data = {"bytes": b"weights", "str": "weights", "json": {"w": 1}, "path": Path("w.bin"),
            "fileobj": io.BytesIO(b"weights")}[kind]  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        asset = ctx.artifact.save(f"w-{kind}", data)
    assert asset.read_bytes() == (b'{"w": 1}' if kind == "json" else b"weights")
    assert BlobClaim.objects.filter(name=asset.file.name).exists()
    assert _temp_files() == []
    if connection.vendor == "postgresql":  # Django records the commit among the queries there
        assert [q["sql"] for q in queries.captured_queries].count("COMMIT") == 1


def test_refused_save_leaves_no_claim_and_no_temporary_file(ctx):
    ws = ctx.run.workspace
    ws.storage_quota_bytes = 3
    ws.save(update_fields=["storage_quota_bytes"])
    with pytest.raises(QuotaExceeded):
        ctx.artifact.save("big.bin", b"more than three bytes")
    assert not BlobClaim.objects.exists()
    assert _temp_files() == []


def test_save_is_one_transaction_without_a_savepoint(ctx):
    """BEGIN, the claim, one read (newest version and the workspace's quota), the INSERT, COMMIT: the
    version retry is the save's own transaction, so no SAVEPOINT/RELEASE round trips (issue 13)."""
    ctx.artifact.save("first.bin", b"one")  # the workspace and run rows are warm, as in a running task
    with CaptureQueriesContext(connection) as queries:
        asset = ctx.artifact.save("first.bin", b"two")
    assert asset.version == 2
    statements = [q["sql"] for q in queries.captured_queries]
    assert not any("SAVEPOINT" in sql for sql in statements), statements
    reads = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1, reads
    if connection.vendor == "postgresql":
        assert len(statements) == 5, statements  # BEGIN, claim upsert, read, INSERT, COMMIT


def test_a_concurrent_writers_version_is_retried_with_the_blob_claimed_again(ctx, monkeypatch):
    """A writer that took version 1 between this save's read and its INSERT: the unique constraint
    refuses the row, the whole transaction (claim included) rolls back, and the retry claims the
    already published blob again and registers version 2."""
    from assets_app.services import registration

    ctx.artifact.save("raced.bin", b"other writer")
    real = registration._latest_and_quota
    calls = []

    def stale_first(**kwargs):
        latest, quota = real(**kwargs)
        calls.append(latest)
        return (None, quota) if len(calls) == 1 else (latest, quota)  # the first read misses version 1

    monkeypatch.setattr(registration, "_latest_and_quota", stale_first)
    asset = ctx.artifact.save("raced.bin", b"this writer")
    assert len(calls) == 2 and calls[1].version == 1
    assert asset.version == 2 and asset.read_bytes() == b"this writer"
    assert BlobClaim.objects.filter(name=asset.file.name).exists()
    assert _temp_files() == []
