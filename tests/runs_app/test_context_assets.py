"""``ctx.find_asset`` prefers the innermost scope whatever the wider ones hold; ``ctx.checkpoint`` chains
and carries tags (SPEC §6, §14)."""

from __future__ import annotations

import pytest

from assets_app.models import Asset, AssetUse
from assets_app.services import asset_create, blob_store_bytes
from runs_app.workflow.context import RunContext

from .. import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def ctx(tmp_path):
    run = f.RunFactory()
    return RunContext(run=run, execution=f.ExecutionFactory(run=run), workdir=tmp_path)


def test_find_asset_returns_the_runs_own_newest_version_beside_250_workspace_versions(ctx):
    run = ctx.run
    for i in range(250):
        asset_create(kind="data", name="weights", workspace=run.workspace, blob=blob_store_bytes(f"ws {i}".encode()))
    asset_create(kind="data", name="weights", experiment=run.experiment, blob=blob_store_bytes(b"experiment"))
    first = ctx.artifact.save("weights", b"run v1")
    newest = ctx.artifact.save("weights", b"run v2")
    assert first.version == 1 and newest.version == 2

    found = ctx.find_asset("weights")

    assert found.pk == newest.pk and found.read_bytes() == b"run v2"
    assert AssetUse.objects.get(run=run).asset_id == newest.pk


def test_find_asset_falls_back_to_the_next_scope_with_its_newest_version(ctx):
    run = ctx.run
    for i in range(3):
        asset_create(kind="data", name="ligands", project=run.project, blob=blob_store_bytes(f"p {i}".encode()))
    for i in range(210):
        asset_create(kind="data", name="ligands", workspace=run.workspace, blob=blob_store_bytes(f"w {i}".encode()))
    found = ctx.find_asset("ligands")
    assert (found.scope, found.version, found.read_bytes()) == ("project", 3, b"p 2")
    assert ctx.find_asset("ligands", version=200).scope == "workspace"  # only the workspace has a v200


def test_checkpoints_chain_through_two_calls_and_keep_their_tags(ctx):
    first = ctx.checkpoint("epoch-1", data={"epoch": 1}, tags=["warmup"])
    second = ctx.checkpoint("epoch-2", data={"epoch": 2}, file=b"weights", tags=["best", "best", " paper "])

    first, second = Asset.objects.get(pk=first.pk), Asset.objects.get(pk=second.pk)
    assert first.kind == second.kind == "checkpoint"
    assert first.parent_id is None and second.parent_id == first.pk
    assert first.tags == ["warmup"] and second.tags == ["best", "paper"]
    assert second.data == {"epoch": 2} and second.read_bytes() == b"weights"
    assert list(Asset.objects.filter(run=ctx.run).catalog(tag="best")) == [second]
