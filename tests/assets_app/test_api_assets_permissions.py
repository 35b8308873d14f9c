"""The catalog API under the owner/editor/viewer/outsider/anonymous matrix; staff see every workspace."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests import factories as f

ROLES = ("owner", "editor", "viewer", "outsider", "anonymous")


@pytest.fixture
def asset(ws):
    return f.AssetFactory(workspace=ws, name="ligands.csv")


@pytest.mark.parametrize(
    ("role", "expected"), [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)]
)
def test_detail_answers_each_role(api_client_for, asset, role, expected):
    response = api_client_for(role).get(f"/api/assets/{asset.pk}/")
    assert response.status_code == expected
    if expected != 200:
        assert response.json()["detail"]


@pytest.mark.parametrize(
    ("role", "count"), [("owner", 1), ("editor", 1), ("viewer", 1), ("outsider", 1), ("anonymous", None)]
)
def test_list_shows_only_own_workspaces(api_client_for, asset, other_ws, role, count):
    f.AssetFactory(workspace=other_ws, name="secret.csv")
    response = api_client_for(role).get("/api/assets/")
    if count is None:
        assert response.status_code == 401
        return
    body = response.json()
    assert body["count"] == count
    expected = "secret.csv" if role == "outsider" else "ligands.csv"
    assert [a["name"] for a in body["results"]] == [expected]


def test_filtering_on_a_foreign_workspace_reveals_nothing(api_client_for, asset, outsider):
    body = api_client_for("outsider").get(f"/api/assets/?workspace={asset.workspace_id}").json()
    assert body["count"] == 0 and body["results"] == []
    body = api_client_for("outsider").get(f"/api/assets/?sha256={asset.sha256}").json()
    assert body["count"] == 0


def test_staff_sees_every_workspace(staff, asset, other_ws):
    f.AssetFactory(workspace=other_ws, name="secret.csv")
    client = APIClient()
    client.force_authenticate(staff)
    assert client.get("/api/assets/").json()["count"] == 2
    assert client.get(f"/api/assets/{asset.pk}/").status_code == 200


@pytest.mark.parametrize("method", ["post", "put"])
def test_catalog_is_read_only(api_client_for, asset, method):
    """No create or replace through the catalog; DELETE moves a version into the trash (SPEC §14,
    tests/runs_app/test_trash_api_pages.py)."""
    url = "/api/assets/" if method == "post" else f"/api/assets/{asset.pk}/"
    response = getattr(api_client_for("owner"), method)(url, {}, format="json")
    assert response.status_code == 405


def test_patch_edits_only_tags_and_description(api_client_for, asset):
    """SPEC §14: ``PATCH`` replaces tags/description (tests/assets_app/test_asset_aliases.py); nothing else moves."""
    before = {k: getattr(asset, k) for k in ("name", "version", "kind", "file", "sha256", "size", "workspace_id")}
    response = api_client_for("owner").patch(f"/api/assets/{asset.pk}/", {"name": "renamed", "size": 1}, format="json")
    assert response.status_code == 200
    asset.refresh_from_db()
    assert {k: getattr(asset, k) for k in before} == before
