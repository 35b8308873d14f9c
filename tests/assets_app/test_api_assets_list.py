"""The catalog list: flat rows, column filters from AssetFilterSet, and 400 for malformed filters."""

from __future__ import annotations

import pytest

from assets_app.choices import AssetKind, ScopeKind
from assets_app.models import Asset
from tests import factories as f

ROW_FIELDS = {
    "id", "kind", "name", "version", "scope", "workspace", "workspace_name", "project", "project_name",
    "experiment", "experiment_name", "run", "producer_run", "producer_task", "size", "sha256", "media_type",
    "tags", "fingerprint", "created_at",
}  # fmt: skip


@pytest.fixture
def catalog(ws, run):
    """Four assets of ``ws`` in different kinds and scopes."""
    data = f.AssetFactory(workspace=ws, name="ligands.csv", tags=["raw", "v3"], sha256="a" * 64)
    project_data = f.AssetFactory(
        workspace=ws,
        project=run.project,
        scope=ScopeKind.PROJECT,
        scope_key=Asset.make_scope_key(ws.pk, run.project_id, None, None),
        name="split.json",
    )
    key = Asset.make_scope_key(ws.pk, run.project_id, run.experiment_id, run.pk)
    log = f.AssetFactory(
        workspace=ws,
        project=run.project,
        experiment=run.experiment,
        run=run,
        scope=ScopeKind.RUN,
        scope_key=key,
        kind=AssetKind.LOG,
        name="stdout",
        producer_run=run,
    )
    ckpt = f.AssetFactory(
        workspace=ws,
        project=run.project,
        experiment=run.experiment,
        run=run,
        scope=ScopeKind.RUN,
        scope_key=key,
        kind=AssetKind.CHECKPOINT,
        name="ckpt",
        tags=["best"],
        producer_run=run,
    )
    return {"data": data, "project_data": project_data, "log": log, "ckpt": ckpt, "run": run}


def _names(client, query):
    response = client.get(f"/api/assets/?{query}")
    assert response.status_code == 200, response.content
    return sorted(a["name"] for a in response.json()["results"])


def test_rows_are_flat_with_pinned_fields(api_client_for, catalog):
    body = api_client_for("viewer").get("/api/assets/").json()
    assert body["count"] == 4
    assert all(set(row) == ROW_FIELDS for row in body["results"])
    assert body["results"][0]["name"] == "ckpt", "newest first"


def test_list_rows_equal_drfs_generic_rendering(api_client_for, catalog):
    """The list builds its rows itself (``_AssetRows``, for speed): key for key, value for value
    (order of keys included) what DRF's generic ``Serializer.to_representation`` gives."""
    from rest_framework import serializers

    from assets_app.api.serializers import AssetSerializer

    body = api_client_for("viewer").get("/api/assets/", {"page_size": 10}).json()
    rows = Asset.objects.filter(pk__in=[r["id"] for r in body["results"]]).order_by("-id")
    generic = [serializers.Serializer.to_representation(AssetSerializer(), a) for a in rows]
    assert [list(r.items()) for r in body["results"]] == [list(g.items()) for g in generic]
    assert {r["project_name"] for r in body["results"]} >= {None}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=log", ["stdout"]),
        ("kind=data", ["ligands.csv", "split.json"]),
        ("scope=project", ["split.json"]),
        ("tag=best", ["ckpt"]),
        ("tag=v3", ["ligands.csv"]),
        ("tag=v", []),
        ("name=ligands.csv", ["ligands.csv"]),
        ("sha256=" + "a" * 64, ["ligands.csv"]),
        ("project={project}", ["ckpt", "split.json", "stdout"]),
        ("experiment={experiment}", ["ckpt", "stdout"]),
        ("run={run}", ["ckpt", "stdout"]),
        ("producer_run={run}", ["ckpt", "stdout"]),
        ("workspace={ws}&kind=checkpoint", ["ckpt"]),
    ],
)
def test_column_filters(api_client_for, catalog, ws, query, expected):
    run = catalog["run"]
    query = query.format(project=run.project_id, experiment=run.experiment_id, run=run.pk, ws=ws.pk)
    assert _names(api_client_for("viewer"), query) == expected


@pytest.mark.parametrize(
    "query",
    ["kind=movie", "scope=galaxy", "workspace=abc", "run=1.5", "experiment=99999999999999999999999", "name=%00"],
)
def test_malformed_filters_are_400(api_client_for, catalog, query):
    response = api_client_for("viewer").get(f"/api/assets/?{query}")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_bad_page_is_json_404(api_client_for, catalog):
    response = api_client_for("viewer").get("/api/assets/?page=zz")
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}
