"""The catalog list costs the same small number of queries at 3 and at 30 assets of mixed scopes."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets_app.choices import AssetKind, ScopeKind
from assets_app.models import Asset
from tests import factories as f


def _add(run, n):
    key = Asset.make_scope_key(run.workspace_id, run.project_id, run.experiment_id, run.pk)
    for i in range(n):
        f.AssetFactory(
            workspace=run.workspace,
            project=run.project,
            experiment=run.experiment,
            run=run,
            scope=ScopeKind.RUN,
            scope_key=key,
            kind=AssetKind.CHECKPOINT if i % 2 else AssetKind.ERROR_TRACE,
            producer_run=run,
            fingerprint="f" * 64,
        )


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()["count"]


def test_asset_list_query_count_is_constant(api_client_for, run):
    client = api_client_for("viewer")
    _add(run, 3)
    small, rows = _count(client, "/api/assets/")
    _add(run, 27)
    large, more_rows = _count(client, "/api/assets/")
    assert (rows, more_rows) == (3, 30)
    assert small == large <= 6


def test_filtered_asset_list_query_count_is_constant(api_client_for, run):
    client = api_client_for("viewer")
    url = f"/api/assets/?run={run.pk}&kind=checkpoint&tag=best"
    _add(run, 3)
    small, _ = _count(client, url)
    _add(run, 27)
    large, _ = _count(client, url)
    assert small == large <= 6
