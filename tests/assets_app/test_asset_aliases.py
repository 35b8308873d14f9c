"""Aliases of asset versions, editable tags and descriptions (SPEC §14): API, RunContext, catalog, page."""

from __future__ import annotations

import pytest
from django.test import Client

from assets_app.models import Asset, AssetAlias
from assets_app.services import asset_create, blob_store_bytes
from runs_app.models import AuditEvent
from runs_app.workflow.context import RunContext
from runs_app.workflow.errors import AssetNotFound
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def esol(project):
    return [asset_create(kind="data", name="esol", project=project, blob=blob_store_bytes(f"v{i}".encode()))
            for i in (1, 2, 3)]  # fmt: skip


def _alias(client, asset, alias):
    return client.post(f"/api/assets/{asset.pk}/alias/", {"alias": alias}, format="json")


def test_alias_is_set_then_moved_and_the_move_is_audited(api_client_for, esol, editor):
    client = api_client_for("editor")
    first = _alias(client, esol[0], "paper")
    assert first.status_code == 200 and first.json() == {
        "alias": "paper", "asset": esol[0].pk, "name": "esol", "kind": "data", "previous_asset": None}  # fmt: skip
    moved = _alias(client, esol[1], "paper")
    assert moved.json()["asset"] == esol[1].pk and moved.json()["previous_asset"] == esol[0].pk
    assert AssetAlias.objects.get().asset_id == esol[1].pk  # one alias, moved
    assert _alias(client, esol[1], "paper").json()["previous_asset"] is None  # unchanged: nothing recorded
    events = list(AuditEvent.objects.order_by("id").values_list("action", "actor_name", "object_id", "client"))
    assert events == [("alias.set", "editor", str(esol[0].pk), "127.0.0.1"),
                      ("alias.move", "editor", str(esol[1].pk), "127.0.0.1")]  # fmt: skip
    assert client.get(f"/api/assets/{esol[1].pk}/").json()["aliases"] == ["paper"]
    assert client.get(f"/api/assets/{esol[0].pk}/").json()["aliases"] == []


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("outsider", 404), ("anonymous", 401)])
def test_alias_needs_the_editor_role(api_client_for, esol, role, status):
    assert _alias(api_client_for(role), esol[0], "paper").status_code == status
    assert not AssetAlias.objects.exists()


@pytest.mark.parametrize("bad", ["", "12", "a b", "-x", "x" * 65, "é/../"])
def test_bad_alias_is_a_400_and_changes_nothing(api_client_for, esol, bad):
    response = _alias(api_client_for("editor"), esol[0], bad)
    assert response.status_code == 400, response.content
    assert not AssetAlias.objects.exists() and not AuditEvent.objects.exists()


def test_find_asset_resolves_aliases_and_at_forms(esol, experiment, editor, tmp_path):
    run = f.RunFactory(experiment=experiment)
    ctx = RunContext(run=run, execution=f.ExecutionFactory(run=run), workdir=tmp_path)
    from assets_app.services import asset_alias_set

    asset_alias_set(user=editor, asset=esol[0], alias="paper")
    assert ctx.find_asset("esol").pk == esol[2].pk  # newest without an alias
    assert ctx.find_asset("esol", version="paper").pk == esol[0].pk
    assert ctx.find_asset("esol@paper").pk == esol[0].pk
    assert ctx.find_asset("esol@2").pk == esol[1].pk
    with pytest.raises(AssetNotFound, match="alias 'nope'"):
        ctx.find_asset("esol", version="nope")
    odd = asset_create(kind="data", name="user@host.csv", project=run.project, blob=blob_store_bytes(b"x"))
    assert ctx.find_asset("user@host.csv").pk == odd.pk  # "@" in a name is looked up literally


def test_catalog_query_alias(api_client_for, esol, editor):
    from assets_app.services import asset_alias_set

    asset_alias_set(user=editor, asset=esol[1], alias="paper-fig3")
    body = api_client_for("viewer").get("/api/assets/", {"q": "alias:paper-fig3"}).json()
    assert [r["id"] for r in body["results"]] == [esol[1].pk]
    body = api_client_for("viewer").get("/api/assets/", {"q": "esol -alias:paper-fig3"}).json()
    assert sorted(r["id"] for r in body["results"]) == sorted([esol[0].pk, esol[2].pk])


def test_patch_tags_and_description_then_search_finds_them(api_client_for, esol):
    response = api_client_for("editor").patch(
        f"/api/assets/{esol[2].pk}/", {"tags": ["keep", " best "], "description": "solubility set"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["tags"] == ["keep", "best"] and response.json()["description"] == "solubility set"
    hits = api_client_for("viewer").get("/api/assets/", {"q": "tag:best"}).json()["results"]
    assert [r["id"] for r in hits] == [esol[2].pk]
    hits = api_client_for("viewer").get("/api/assets/", {"q": "solubility"}).json()["results"]
    assert [r["id"] for r in hits] == [esol[2].pk]


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("outsider", 404), ("anonymous", 401)])
def test_patch_needs_the_editor_role(api_client_for, esol, role, status):
    response = api_client_for(role).patch(f"/api/assets/{esol[0].pk}/", {"tags": ["x"]}, format="json")
    assert response.status_code == status
    assert Asset.objects.get(pk=esol[0].pk).tags == []


@pytest.mark.parametrize("body", [{"tags": "notalist"}, {"tags": ["x" * 101]}, {"description": "a\x00b"}])
def test_patch_refuses_bad_input(api_client_for, esol, body):
    assert api_client_for("editor").patch(f"/api/assets/{esol[0].pk}/", body, format="json").status_code == 400
    asset = Asset.objects.get(pk=esol[0].pk)
    assert asset.tags == [] and asset.description == ""


def test_asset_page_shows_aliases_and_edits_for_editors_with_csrf(esol, editor, viewer):
    from assets_app.services import asset_alias_set

    asset_alias_set(user=editor, asset=esol[0], alias="paper")
    page = Client()
    page.force_login(viewer)
    html = page.get(f"/assets/{esol[2].pk}/").content.decode()
    assert "paper → v1" in html and 'id="asset-edit"' not in html
    assert page.post(f"/assets/{esol[2].pk}/alias/", {"alias": "best"}).status_code == 403

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(editor)
    html = strict.get(f"/assets/{esol[2].pk}/").content.decode()
    assert 'id="asset-edit"' in html
    assert strict.post(f"/assets/{esol[2].pk}/alias/", {"alias": "best"}).status_code == 403  # no CSRF token
    token = strict.cookies["csrftoken"].value
    response = strict.post(f"/assets/{esol[2].pk}/alias/", {"alias": "best", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    response = strict.post(f"/assets/{esol[2].pk}/edit/",
                           {"tags": "a, b", "description": "d", "csrfmiddlewaretoken": token})  # fmt: skip
    assert response.status_code == 302
    asset = Asset.objects.get(pk=esol[2].pk)
    assert asset.tags == ["a", "b"] and asset.description == "d" and asset.aliases.get().alias == "best"
    html = strict.get(f"/assets/{esol[2].pk}/").content.decode()
    assert ">best</span>" in html
