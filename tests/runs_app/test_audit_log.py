"""The audit log (SPEC §14): events recorded by the services, append-only, read by owners and staff."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from assets_app.services import blob_gc
from runs_app.choices import Role
from runs_app.models import AuditEvent
from runs_app.services import membership_set, token_regenerate, workspace_quota_set

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


def test_membership_invitation_and_role_changes_are_recorded_with_the_client_address(ws, owner, viewer):
    client = _api(owner)
    members = f"/api/workspaces/{ws.pk}/members/"
    assert client.post(members, {"username": "viewer", "role": "editor"}, format="json",
                       REMOTE_ADDR="10.1.2.3").status_code == 201  # fmt: skip
    assert client.post(members, {"username": "newcomer", "role": "viewer"}, format="json").status_code == 202
    assert client.delete(f"{members}viewer/").status_code == 204
    rows = list(AuditEvent.objects.order_by("id").values("action", "actor_name", "workspace_id", "client", "details"))
    assert [(r["action"], r["actor_name"], r["workspace_id"]) for r in rows] == [
        ("membership.set", "owner", ws.pk),
        ("invitation.create", "owner", ws.pk),
        ("membership.remove", "owner", ws.pk),
    ]
    assert rows[0]["client"] == "10.1.2.3" and rows[0]["details"]["previous_role"] == "viewer"
    assert rows[0]["details"]["role"] == "editor"


def test_token_quota_and_gc_are_recorded(ws, owner, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}  # fmt: skip
    settings.MOLEXP_UPLOAD_DIR = str(tmp_path / "uploads")
    token_regenerate(user=owner)
    token_regenerate(user=owner)
    workspace_quota_set(user=owner, workspace=ws, storage_quota_bytes=1000)
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / f"{'ab' * 16}.part").write_bytes(b"x" * 10)
    blob_gc(grace_seconds=0)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["token.create", "token.revoke", "token.create", "quota.set", "gc.purge"]
    quota = AuditEvent.objects.get(action="quota.set")
    assert quota.details == {"storage_quota_bytes": 1000, "previous": None} and quota.workspace_id == ws.pk
    assert AuditEvent.objects.get(action="gc.purge").details["objects"] == 1
    assert owner.auth_token.key not in str(list(AuditEvent.objects.values_list("object_repr", "details")))


def test_events_are_append_only(ws, owner):
    membership_set(actor=owner, workspace=ws, username="viewer", role=Role.EDITOR)
    event = AuditEvent.objects.get()
    event.details = {"forged": True}
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert AuditEvent.objects.get().details["role"] == "editor"


def _events(ws, other_ws, owner, outsider):
    membership_set(actor=owner, workspace=ws, username="viewer", role=Role.EDITOR)
    membership_set(actor=owner, workspace=ws, username="viewer", role=Role.VIEWER)
    membership_set(actor=outsider, workspace=other_ws, username="someone", role=Role.VIEWER)
    token_regenerate(user=owner)  # outside any workspace: staff only


def test_owners_read_their_workspaces_log_staff_all_others_nothing(ws, other_ws, owner, editor, viewer, outsider,
                                                                     staff):  # fmt: skip
    _events(ws, other_ws, owner, outsider)

    def seen(user, **params):
        response = _api(user).get("/api/audit/", params)
        assert response.status_code == 200, response.content
        return [(r["action"], r["workspace"]) for r in response.json()["results"]]

    assert seen(owner) == [("membership.set", ws.pk)] * 2
    assert seen(outsider) == [("invitation.create", other_ws.pk)]
    assert seen(editor) == [] and seen(viewer) == []
    assert seen(owner, workspace=other_ws.pk) == []
    assert len(seen(staff)) == 4 and ("token.create", None) in seen(staff)
    assert seen(staff, action="invitation.create") == [("invitation.create", other_ws.pk)]
    assert seen(staff, actor="outsider") == [("invitation.create", other_ws.pk)]
    assert _api(None).get("/api/audit/").status_code == 401
    assert _api(staff).get("/api/audit/", {"action": "nope"}).status_code == 400
    assert _api(staff).get("/api/audit/", {"workspace": "1.5"}).status_code == 400


def test_audit_api_is_keyset_paginated_with_constant_queries(ws, other_ws, owner, outsider,
                                                             django_assert_num_queries):  # fmt: skip
    client = _api(owner)
    _events(ws, other_ws, owner, outsider)
    with django_assert_num_queries(2):
        first = client.get("/api/audit/", {"workspace": ws.pk, "page_size": 1}).json()
    assert first["count"] == 2 and first["next"] and "cursor=" in first["next"]
    second = client.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] != [r["id"] for r in first["results"]]
    for _ in range(20):
        membership_set(actor=owner, workspace=ws, username="viewer", role=Role.EDITOR)
    with django_assert_num_queries(2):
        assert len(client.get("/api/audit/", {"workspace": ws.pk}).json()["results"]) == 22


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_audit_page_is_for_owners(web_client_for, ws, role, status):
    assert web_client_for(role).get(f"/w/{ws.slug}/audit/").status_code == status


def test_audit_page_lists_and_filters_with_constant_queries(ws, other_ws, owner, outsider, staff,
                                                            django_assert_num_queries):  # fmt: skip
    client = Client()
    client.force_login(owner)
    _events(ws, other_ws, owner, outsider)
    with django_assert_num_queries(5):
        html = client.get(f"/w/{ws.slug}/audit/").content.decode()
    assert html.count("Member added or role changed") >= 2 and "someone" not in html
    for _ in range(10):
        membership_set(actor=owner, workspace=ws, username="viewer", role=Role.EDITOR)
    with django_assert_num_queries(5):
        client.get(f"/w/{ws.slug}/audit/")
    filtered = client.get(f"/w/{ws.slug}/audit/", {"action": "invitation.create"}).content.decode()
    assert "No events." in filtered
    assert "action: " in client.get(f"/w/{ws.slug}/audit/", {"action": "bogus"}).content.decode()
