"""Scoped tokens (SPEC §13): one workspace, a maximum role, an expiry; created, listed, revoked on the page and API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from runs_app.models import Project, ScopedToken
from runs_app.services.tokens import scoped_token_create
from tests import factories as f


def _api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def elsewhere_too(editor, other_ws):
    f.MembershipFactory(workspace=other_ws, user=editor, role="editor")
    return other_ws


def test_scope_limits_workspaces_and_role(db, ws, project, editor, elsewhere_too):
    _, key = scoped_token_create(user=editor, workspace=ws, name="ci", max_role="viewer")
    api = _api(key)
    listed = {w["slug"] for w in api.get("/api/workspaces/").json()["results"]}
    assert listed == {ws.slug}  # the other workspace the editor belongs to is out of scope
    assert api.get(f"/api/workspaces/{elsewhere_too.pk}/").status_code == 404  # like an outsider
    response = api.post("/api/projects/", {"workspace": ws.pk, "name": "New"}, format="json")
    assert response.status_code == 403  # the token's maximum role (viewer) wins over the membership (editor)
    assert not Project.objects.filter(name="New").exists()


def test_token_never_exceeds_the_membership(db, ws, viewer):
    _, key = scoped_token_create(user=viewer, workspace=ws, name="greedy", max_role="owner")
    response = _api(key).post("/api/projects/", {"workspace": ws.pk, "name": "Nope"}, format="json")
    assert response.status_code == 403


def test_editor_scope_writes_in_its_workspace(db, ws, editor):
    _, key = scoped_token_create(user=editor, workspace=ws, name="w", max_role="editor")
    assert _api(key).post("/api/projects/", {"workspace": ws.pk, "name": "Fine"}, format="json").status_code == 201


def test_staff_scoped_token_is_not_global(db, ws, staff, other_ws):
    _, key = scoped_token_create(user=staff, workspace=ws, name="s", max_role="viewer")
    assert {w["slug"] for w in _api(key).get("/api/workspaces/").json()["results"]} == {ws.slug}


def test_expired_and_revoked_tokens_authenticate_nothing(db, ws, editor, owner):
    token, key = scoped_token_create(user=editor, workspace=ws, name="old", max_role="viewer")
    ScopedToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _api(key).get("/api/workspaces/").status_code == 401
    token, key = scoped_token_create(user=editor, workspace=ws, name="new", max_role="viewer")
    assert _api(key).get("/api/workspaces/").status_code == 200
    owner_api = APIClient()
    owner_api.force_authenticate(owner)
    assert {t["name"] for t in owner_api.get("/api/tokens/").json()} == {"old", "new"}  # owners see them
    assert owner_api.delete(f"/api/tokens/{token.pk}/").status_code == 204  # and revoke them
    assert _api(key).get("/api/workspaces/").status_code == 401


def test_api_create_list_revoke(db, ws, editor, viewer, outsider):
    api = APIClient()
    api.force_authenticate(editor)
    response = api.post("/api/tokens/", {"name": "laptop", "workspace": ws.slug, "max_role": "editor",
                                         "expires_in_days": 7}, format="json")  # fmt: skip
    assert response.status_code == 201 and response.json()["key"].startswith("mx_")
    token_id = response.json()["id"]
    assert ScopedToken.objects.get(pk=token_id).key_sha256 != response.json()["key"]  # only the hash is kept
    assert [t["name"] for t in api.get("/api/tokens/").json()] == ["laptop"]
    for who in (viewer, outsider):  # not the creator, not an owner: it stays invisible
        other = APIClient()
        other.force_authenticate(who)
        assert other.get("/api/tokens/").json() == []
        assert other.delete(f"/api/tokens/{token_id}/").status_code == 404
    bad = api.post("/api/tokens/", {"name": "x", "workspace": ws.slug, "expires_in_days": 9999}, format="json")
    assert bad.status_code == 400
    outsider_api = APIClient()
    outsider_api.force_authenticate(outsider)
    assert outsider_api.post("/api/tokens/", {"name": "x", "workspace": ws.slug}, format="json").status_code == 404
    assert api.delete(f"/api/tokens/{token_id}/").status_code == 204


def test_token_list_query_count(db, ws, owner, editor, django_assert_max_num_queries):
    for i in range(20):
        scoped_token_create(user=editor, workspace=ws, name=f"t{i}", max_role="viewer")
    api = APIClient()
    api.force_authenticate(owner)
    with django_assert_max_num_queries(3):
        assert len(api.get("/api/tokens/").json()) == 20


def test_tokens_page_create_and_revoke(client, ws, editor, owner, django_assert_max_num_queries):
    client.force_login(editor)
    response = client.post("/account/tokens/", {"name": "page", "workspace": str(ws.pk), "max_role": "viewer",
                                                "expires_in_days": "30"})  # fmt: skip
    assert response.status_code == 200 and "mx_" in response.content.decode()
    token = ScopedToken.objects.get(name="page")
    assert client.post("/account/tokens/", {"name": "", "workspace": str(ws.pk)}).status_code == 400
    client.force_login(owner)
    with django_assert_max_num_queries(8):
        html = client.get("/account/tokens/").content.decode()
    assert "page" in html and token.prefix in html
    assert client.post("/account/tokens/", {"action": "revoke", "token": str(token.pk)}).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == owner


def test_creating_and_revoking_a_scoped_token_is_audited_in_its_workspace(db, ws, editor, owner):
    """SPEC §14: token creation and revocation are audit events; the workspace's owners read them."""
    from runs_app.choices import AuditAction
    from runs_app.models import AuditEvent
    from runs_app.services.tokens import scoped_token_create, scoped_token_revoke

    token, _key = scoped_token_create(user=editor, workspace=ws, name="ci", max_role="editor")
    scoped_token_revoke(user=owner, pk=token.pk)
    scoped_token_revoke(user=owner, pk=token.pk)  # a second revoke changes nothing and records nothing
    events = list(AuditEvent.objects.filter(workspace=ws).order_by("id").values_list("action", "actor_name"))
    assert events == [(AuditAction.TOKEN_CREATE, editor.username), (AuditAction.TOKEN_REVOKE, owner.username)]
