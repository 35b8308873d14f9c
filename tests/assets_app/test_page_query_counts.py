"""The catalog pages cost the same number of queries at 3 and at 25 rows (and at most 10)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets_app.choices import AssetKind, ScopeKind
from assets_app.models import Asset
from tests import factories as f

pytestmark = pytest.mark.django_db

MAX_QUERIES = 10


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx)


def _assert_constant(client, url: str, grow) -> None:
    grow(3)
    client.get(url)
    small = _count(client, url)
    grow(22)
    large = _count(client, url)
    assert small == large, f"{url}: {small} queries at 3 rows, {large} at 25"
    assert large <= MAX_QUERIES, f"{url}: {large} queries"


def _project_asset(project, run, **kwargs):
    return f.AssetFactory(
        workspace=project.workspace,
        project=project,
        scope=ScopeKind.PROJECT,
        scope_key=Asset.make_scope_key(project.workspace_id, project.pk, None, None),
        producer_run=run,
        producer_task="featurize",
        tags=["qm9", "raw"],
        **kwargs,
    )


def test_catalog_list_queries_constant(web_client_for, project, run):
    def grow(n):
        for _ in range(n):
            _project_asset(project, run, kind=AssetKind.ARTIFACT)

    client = web_client_for("viewer")
    _assert_constant(client, "/catalog/", grow)
    _assert_constant(client, "/catalog/?kind=artifact", grow)


def test_catalog_fragment_queries_constant(web_client_for, project, run):
    def grow(n):
        for _ in range(n):
            _project_asset(project, run)

    client = web_client_for("viewer")
    client.defaults["HTTP_HX_REQUEST"] = "true"
    _assert_constant(client, "/catalog/", grow)


def test_asset_detail_queries_constant(web_client_for, project, run, experiment):
    first = _project_asset(project, run, name="qm9.csv", version=1)
    state = {"version": 1}

    def grow(n):
        for _ in range(n):
            state["version"] += 1
            _project_asset(project, run, name="qm9.csv", version=state["version"])
            f.AssetUseFactory(asset=first, run=f.RunFactory(experiment=experiment))

    _assert_constant(web_client_for("viewer"), f"/assets/{first.pk}/", grow)
