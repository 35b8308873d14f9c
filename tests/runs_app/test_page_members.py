"""Owners manage members from the members page; everyone in the workspace can read the list."""

from __future__ import annotations

import pytest
from django.test import Client

from runs_app.choices import Role
from runs_app.models import Membership
from tests import factories as f

pytestmark = pytest.mark.django_db

URL = "/w/lab/members/"


def _role(ws, username):
    return Membership.objects.filter(workspace=ws, user__username=username).values_list("role", flat=True).first()


def test_viewer_reads_the_list_without_forms(web_client_for, ws):
    body = web_client_for("viewer").get(URL).content.decode()
    assert "editor" in body and "owner" in body
    assert 'name="action"' not in body


def test_owner_sees_the_management_forms(web_client_for, ws):
    body = web_client_for("owner").get(URL).content.decode()
    assert 'value="remove"' in body and 'value="add"' in body


def test_owner_invites_a_member_who_joins_on_accepting(web_client_for, ws):
    # Changed with issue 12 (intentionally): "add" invites; the newcomer joins on accepting.
    newcomer = f.UserFactory(username="newcomer")
    response = web_client_for("owner").post(URL, {"action": "add", "add-username": "newcomer", "add-role": "editor"})
    assert response.status_code == 302
    assert _role(ws, "newcomer") is None
    assert "newcomer" in web_client_for("owner").get(URL).content.decode().split('id="pending-invitations"')[1]
    client = Client()
    client.force_login(newcomer)
    assert "Lab" in client.get("/account/invitations/").content.decode()
    accepted = client.post("/account/invitations/", {"workspace": ws.pk, "action": "accept"})
    assert accepted.status_code == 302
    assert _role(ws, "newcomer") == Role.EDITOR


def test_owner_changes_a_role(web_client_for, ws):
    response = web_client_for("owner").post(URL, {"action": "set", "username": "viewer", "role": "editor"})
    assert response.status_code == 302
    assert _role(ws, "viewer") == Role.EDITOR


def test_owner_removes_a_member(web_client_for, ws):
    response = web_client_for("owner").post(URL, {"action": "remove", "username": "editor"})
    assert response.status_code == 302
    assert _role(ws, "editor") is None


def test_unknown_user_is_not_revealed(web_client_for, ws):
    """Changed with issue 12: "No user named x" enumerated usernames; now a ghost is invited like anyone."""
    f.UserFactory(username="newcomer")
    client = web_client_for("owner")
    ghost = client.post(URL, {"action": "add", "add-username": "ghost", "add-role": "viewer"}, follow=True)
    real = client.post(URL, {"action": "add", "add-username": "newcomer", "add-role": "viewer"}, follow=True)
    assert ghost.status_code == real.status_code == 200
    assert "No user named" not in ghost.content.decode()
    assert "Invited ghost as viewer" in ghost.content.decode()
    assert "Invited newcomer as viewer" in real.content.decode()


def test_demoting_the_last_owner_shows_the_conflict(web_client_for, ws):
    response = web_client_for("owner").post(URL, {"action": "set", "username": "owner", "role": "viewer"})
    assert response.status_code == 400
    assert "at least one owner" in response.content.decode()
    assert _role(ws, "owner") == Role.OWNER


def test_removing_the_last_owner_shows_the_conflict(web_client_for, ws):
    response = web_client_for("owner").post(URL, {"action": "remove", "username": "owner"})
    assert response.status_code == 400
    assert "at least one owner" in response.content.decode()
    assert _role(ws, "owner") == Role.OWNER


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_non_owners_cannot_change_members(web_client_for, ws, role):
    response = web_client_for(role).post(URL, {"action": "set", "username": "viewer", "role": "owner"})
    assert response.status_code == 403
    assert _role(ws, "viewer") == Role.VIEWER
