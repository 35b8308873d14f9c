"""Workspace members over the API: members read them, owners set roles and remove members."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from runs_app.models import Membership
from tests import factories as f


@pytest.fixture
def newbie(db):
    return f.UserFactory(username="newbie")


def test_members_are_listed_with_username_and_role(api_client_for, ws):
    body = api_client_for("viewer").get(f"/api/workspaces/{ws.pk}/members/").json()
    assert body["count"] == 3
    assert [(m["username"], m["role"]) for m in body["results"]] == [
        ("editor", "editor"),
        ("owner", "owner"),
        ("viewer", "viewer"),
    ]
    assert set(body["results"][0]) == {"username", "role", "created_at"}


def test_owner_invites_a_member_who_joins_on_accepting(api_client_for, ws, newbie):
    # Changed with issue 12 (intentionally): adding a non-member invites them (202); they join on accepting.
    response = api_client_for("owner").post(
        f"/api/workspaces/{ws.pk}/members/", {"username": "newbie", "role": "viewer"}, format="json"
    )
    assert response.status_code == 202
    assert response.json()["username"] == "newbie"
    assert response.json()["status"] == "pending"
    assert not Membership.objects.filter(workspace=ws, user=newbie).exists()
    client = APIClient()
    client.force_authenticate(user=newbie)
    accepted = client.post("/api/invitations/accept/", {"workspace": ws.pk}, format="json")
    assert accepted.status_code == 200
    assert accepted.json()["username"] == "newbie"
    assert Membership.objects.get(workspace=ws, user=newbie).role == "viewer"


def test_owner_changes_a_role(api_client_for, ws, viewer):
    response = api_client_for("owner").post(
        f"/api/workspaces/{ws.pk}/members/", {"username": "viewer", "role": "editor"}, format="json"
    )
    assert response.status_code == 201
    assert Membership.objects.get(workspace=ws, user=viewer).role == "editor"


def test_owner_removes_a_member(api_client_for, ws, viewer):
    response = api_client_for("owner").delete(f"/api/workspaces/{ws.pk}/members/viewer/")
    assert response.status_code == 204
    assert not Membership.objects.filter(workspace=ws, user=viewer).exists()


def test_last_owner_cannot_be_demoted_or_removed(api_client_for, ws):
    client = api_client_for("owner")
    demote = client.post(f"/api/workspaces/{ws.pk}/members/", {"username": "owner", "role": "viewer"}, format="json")
    remove = client.delete(f"/api/workspaces/{ws.pk}/members/owner/")
    assert demote.status_code == remove.status_code == 409
    assert "at least one owner" in remove.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "newbie", "role": "admin"}, "role"),
        ({"username": "newbie"}, "role"),
        ({"role": "viewer"}, "username"),
        ({"username": ["newbie"], "role": "viewer"}, "username"),
    ],
    ids=["unknown-role", "missing-role", "missing-username", "wrong-type"],
)
def test_bad_member_bodies_are_400_field_errors(api_client_for, ws, newbie, body, field):
    response = api_client_for("owner").post(f"/api/workspaces/{ws.pk}/members/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert response.json()["detail"]


def test_inviting_a_name_without_an_account_looks_like_inviting_a_user(api_client_for, ws, newbie):
    """Changed with issue 12: "no user named x" enumerated usernames; now both are pending invitations."""
    client = api_client_for("owner")
    real = client.post(f"/api/workspaces/{ws.pk}/members/", {"username": "newbie", "role": "viewer"}, format="json")
    ghost = client.post(f"/api/workspaces/{ws.pk}/members/", {"username": "nobody", "role": "viewer"}, format="json")
    assert real.status_code == ghost.status_code == 202
    strip = lambda body: {k: v for k, v in body.items() if k not in ("username", "created_at")}  # noqa: E731
    assert strip(real.json()) == strip(ghost.json())


def test_removing_a_non_member_is_400(api_client_for, ws, newbie):
    response = api_client_for("owner").delete(f"/api/workspaces/{ws.pk}/members/newbie/")
    assert response.status_code == 400
    assert "not a member" in response.json()["detail"]


@pytest.mark.parametrize("pk", ["abc", "0", "99999999", "99999999999999999999999"])
def test_unknown_workspace_ids_are_404(api_client_for, ws, pk):
    client = api_client_for("owner")
    assert client.get(f"/api/workspaces/{pk}/members/").status_code == 404
    response = client.post(f"/api/workspaces/{pk}/members/", {"username": "viewer", "role": "owner"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such workspace."}
