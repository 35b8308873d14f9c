"""The asset page: fields, kind fields, versions in the same scope, producer and the runs that used it."""

from __future__ import annotations

import pytest

from assets_app.choices import AssetKind, ScopeKind
from assets_app.models import Asset
from tests import factories as f

pytestmark = pytest.mark.django_db


def _asset(project, **kwargs):
    return f.AssetFactory(
        workspace=project.workspace,
        project=project,
        scope=ScopeKind.PROJECT,
        scope_key=Asset.make_scope_key(project.workspace_id, project.pk, None, None),
        **kwargs,
    )


def test_versions_are_those_of_the_same_name_and_scope(web_client_for, project, ws):
    v1 = _asset(project, name="qm9.csv", version=1)
    v2 = _asset(project, name="qm9.csv", version=2)
    f.AssetFactory(workspace=ws, name="qm9.csv", version=1)  # same name, workspace scope
    _asset(project, name="other.csv", version=3)
    response = web_client_for("viewer").get(f"/assets/{v1.pk}/")
    assert [a.pk for a in response.context["versions"]] == [v2.pk, v1.pk]


def test_used_by_lists_the_runs_with_links(web_client_for, project, experiment):
    asset = _asset(project, name="qm9.csv", tags=["raw"], metadata={"rows": 133885})
    run = f.RunFactory(experiment=experiment, number=4)
    f.AssetUseFactory(asset=asset, run=run, task_name="featurize")
    body = web_client_for("viewer").get(f"/assets/{asset.pk}/").content.decode()
    assert "/w/lab/p/qm9/e/baseline/runs/4/" in body
    assert "featurize" in body and "raw" in body and "133885" in body


def test_error_trace_shows_its_kind_fields(web_client_for, project, run):
    asset = _asset(
        project,
        kind=AssetKind.ERROR_TRACE,
        name="error-train",
        exception_type="ZeroDivisionError",
        exception_message="division by zero",
        traceback="Traceback (most recent call last):\n  boom",
        producer_run=run,
        producer_task="train",
    )
    body = web_client_for("viewer").get(f"/assets/{asset.pk}/").content.decode()
    assert "ZeroDivisionError" in body and "division by zero" in body and "most recent call last" in body
    assert f"/runs/{run.pk}/" in body


def test_outsider_gets_404(web_client_for, project, other_ws):
    asset = _asset(project)
    assert web_client_for("outsider").get(f"/assets/{asset.pk}/").status_code == 404


def test_a_log_page_states_what_the_search_covers(web_client_for, run, settings, tmp_path):
    from assets_app import services

    settings.MEDIA_ROOT = str(tmp_path)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(tmp_path)}},
    }
    log = services.log_open(run=run, execution=f.ExecutionFactory(run=run), name="train.stdout")
    services.log_append_lines(asset=log, lines=["epoch 1"])
    client = web_client_for("viewer")
    live = client.get(f"/assets/{log.pk}/").content.decode()
    assert "Searchable once finalized" in live
    services.log_finalize(asset=log)
    body = client.get(f"/assets/{log.pk}/").content.decode()
    assert "its last 64 KiB as text (phrases too) and the distinct words before them" in body
