"""Asset detail: the pinned common fields plus the fields of the asset's kind."""

from __future__ import annotations

import pytest

from assets_app.choices import AssetKind, ScopeKind
from assets_app.models import Asset
from tests import factories as f

PINNED = {
    "kind", "name", "version", "scope", "workspace", "project", "experiment", "run", "producer_task", "size",
    "sha256", "tags", "metadata", "media_type", "created_at", "producer_run",
}  # fmt: skip

KIND_FIELDS = {
    AssetKind.DATA: {"source_path", "import_action"},
    AssetKind.ARTIFACT: set(),
    AssetKind.LOG: {"line_count"},
    AssetKind.CHECKPOINT: {"data", "parent"},
    AssetKind.ERROR_TRACE: {"exception_type", "exception_message", "traceback", "fingerprint"},
}


def _run_asset(run, **kwargs):
    return f.AssetFactory(
        workspace=run.workspace,
        project=run.project,
        experiment=run.experiment,
        run=run,
        scope=ScopeKind.RUN,
        scope_key=Asset.make_scope_key(run.workspace_id, run.project_id, run.experiment_id, run.pk),
        producer_run=run,
        **kwargs,
    )


@pytest.mark.parametrize("kind", list(KIND_FIELDS))
def test_detail_has_pinned_and_kind_fields(api_client_for, run, kind):
    asset = _run_asset(run, kind=kind, name=f"{kind}-thing", tags=["best"], metadata={"k": 1})
    body = api_client_for("viewer").get(f"/api/assets/{asset.pk}/").json()
    assert PINNED | KIND_FIELDS[kind] <= set(body)
    assert body["kind"] == kind
    assert (body["workspace"], body["project"], body["experiment"], body["run"]) == (
        run.workspace_id,
        run.project_id,
        run.experiment_id,
        run.pk,
    )
    assert body["tags"] == ["best"] and body["metadata"] == {"k": 1} and body["producer_run"] == run.pk
    others = set().union(*KIND_FIELDS.values()) - KIND_FIELDS[kind] - {"fingerprint"}
    assert not others & set(body), "fields of other kinds stay out"


def test_checkpoint_points_at_its_parent(api_client_for, run):
    first = _run_asset(run, kind=AssetKind.CHECKPOINT, name="ckpt", version=1, data={"epoch": 1})
    second = _run_asset(run, kind=AssetKind.CHECKPOINT, name="ckpt", version=2, data={"epoch": 2}, parent=first)
    body = api_client_for("viewer").get(f"/api/assets/{second.pk}/").json()
    assert body["parent"] == first.pk and body["data"] == {"epoch": 2} and body["version"] == 2
    assert api_client_for("viewer").get(f"/api/assets/{first.pk}/").json()["parent"] is None


def test_error_trace_carries_fingerprint_and_exception(api_client_for, run):
    trace = _run_asset(
        run,
        kind=AssetKind.ERROR_TRACE,
        name="trace",
        exception_type="ValueError",
        exception_message="bad lr",
        traceback="Traceback …",
        fingerprint="f" * 64,
        producer_task="train",
    )
    body = api_client_for("viewer").get(f"/api/assets/{trace.pk}/").json()
    assert body["fingerprint"] == "f" * 64
    assert (body["exception_type"], body["exception_message"], body["producer_task"]) == (
        "ValueError",
        "bad lr",
        "train",
    )


@pytest.mark.parametrize("pk", ["abc", "0", "1.5", "99999999999999999999999", "-3"])
def test_odd_ids_are_json_404(api_client_for, ws, pk):
    response = api_client_for("owner").get(f"/api/assets/{pk}/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such asset."}
