"""Membership by invitation (issue 12, findings 1 and 8): nobody joins a workspace without accepting.

The reported chain: an outsider owns a workspace, "adds" a victim to it (no consent was
needed) and waits for the victim to open a crafted record there. Now the victim is only
invited; the workspace stays invisible to them until they accept, and they may decline.
"""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from runs_app.choices import Role
from runs_app.models import Invitation, Membership
from runs_app.services import invitation_accept, invitation_decline, membership_remove, membership_set
from tests import factories as f

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_outsider_cannot_put_a_victim_into_their_workspace(outsider, other_ws, owner):
    response = _api(outsider).post(
        f"/api/workspaces/{other_ws.pk}/members/", {"username": "owner", "role": "owner"}, format="json"
    )
    assert response.status_code == 202
    assert not Membership.objects.filter(workspace=other_ws, user=owner).exists()
    # The victim does not see the workspace anywhere until they accept.
    assert other_ws.pk not in [w["id"] for w in _api(owner).get("/api/workspaces/").json()["results"]]
    assert _web(owner).get(f"/w/{other_ws.slug}/").status_code == 404
    # They see the offer, and decline it.
    [offer] = _api(owner).get("/api/invitations/").json()["results"]
    assert offer["workspace"] == other_ws.pk and offer["invited_by"] == "outsider" and offer["role"] == "owner"
    assert _api(owner).post("/api/invitations/decline/", {"workspace": other_ws.pk}, format="json").status_code == 204
    assert not Invitation.objects.exists()
    assert not Membership.objects.filter(workspace=other_ws, user=owner).exists()


def test_only_the_invited_user_can_accept(ws, owner, outsider, viewer):
    membership_set(actor=owner, workspace=ws, username="outsider", role=Role.EDITOR)
    for intruder in (viewer, f.UserFactory(username="someone")):
        response = _api(intruder).post("/api/invitations/accept/", {"workspace": ws.pk}, format="json")
        assert response.status_code == 404
    assert _api(outsider).post("/api/invitations/accept/", {"workspace": ws.pk}, format="json").status_code == 200
    assert Membership.objects.get(workspace=ws, user=outsider).role == Role.EDITOR
    assert not Invitation.objects.exists()


def test_no_invitation_and_no_workspace_answer_alike(ws, outsider):
    missing = _api(outsider).post("/api/invitations/accept/", {"workspace": 987654}, format="json")
    uninvited = _api(outsider).post("/api/invitations/accept/", {"workspace": ws.pk}, format="json")
    assert missing.status_code == uninvited.status_code == 404
    assert missing.json() == uninvited.json()


@pytest.mark.parametrize("body", [{}, {"workspace": "x"}, {"workspace": 0}, {"workspace": 10**30}, {"workspace": [1]}])
@pytest.mark.parametrize("action", ["accept", "decline"])
def test_bad_answers_are_400(outsider, body, action):
    response = _api(outsider).post(f"/api/invitations/{action}/", body, format="json")
    assert response.status_code == 400
    assert "workspace" in response.json()


def test_inviting_again_updates_the_role_and_inviting_a_member_changes_their_role(ws, owner, viewer):
    membership_set(actor=owner, workspace=ws, username="newcomer", role=Role.VIEWER)
    membership_set(actor=owner, workspace=ws, username="newcomer", role=Role.EDITOR)
    assert Invitation.objects.get().role == Role.EDITOR
    result = membership_set(actor=owner, workspace=ws, username="viewer", role=Role.EDITOR)
    assert isinstance(result, Membership) and result.role == Role.EDITOR
    assert Invitation.objects.count() == 1


def test_a_user_created_after_the_invitation_can_accept_it(ws, owner):
    membership_set(actor=owner, workspace=ws, username="latecomer", role=Role.VIEWER)
    latecomer = f.UserFactory(username="latecomer")
    invitation_accept(user=latecomer, workspace_id=ws.pk)
    assert Membership.objects.get(workspace=ws, user=latecomer).role == Role.VIEWER


def test_owner_withdraws_an_invitation(ws, owner, outsider):
    membership_set(actor=owner, workspace=ws, username="outsider", role=Role.VIEWER)
    assert _api(owner).delete(f"/api/workspaces/{ws.pk}/members/outsider/").status_code == 204
    assert not Invitation.objects.exists()
    with pytest.raises(Exception) as err:
        invitation_accept(user=outsider, workspace_id=ws.pk)
    assert "no pending invitation" in str(err.value)


def test_only_owners_invite_or_withdraw(ws, owner, editor, viewer):
    for member in (editor, viewer):
        response = _api(member).post(
            f"/api/workspaces/{ws.pk}/members/", {"username": "newcomer", "role": "viewer"}, format="json"
        )
        assert response.status_code == 403
    assert not Invitation.objects.exists()
    membership_set(actor=owner, workspace=ws, username="newcomer", role=Role.VIEWER)
    assert _api(editor).delete(f"/api/workspaces/{ws.pk}/members/newcomer/").status_code == 403
    assert Invitation.objects.count() == 1


def test_members_see_pending_invitations_and_outsiders_do_not(ws, owner, viewer, outsider):
    membership_set(actor=owner, workspace=ws, username="newcomer", role=Role.EDITOR)
    body = _api(viewer).get(f"/api/workspaces/{ws.pk}/invitations/").json()
    assert [(i["username"], i["role"], i["invited_by"]) for i in body["results"]] == [("newcomer", "editor", "owner")]
    assert _api(outsider).get(f"/api/workspaces/{ws.pk}/invitations/").status_code == 404
    assert "newcomer" in _web(viewer).get("/w/lab/members/").content.decode()


def test_declining_on_the_page(ws, owner, outsider):
    membership_set(actor=owner, workspace=ws, username="outsider", role=Role.VIEWER)
    page = _web(outsider)
    assert page.post("/account/invitations/", {"workspace": ws.pk, "action": "decline"}).status_code == 302
    assert not Invitation.objects.exists() and not Membership.objects.filter(user=outsider, workspace=ws).exists()
    again = page.post("/account/invitations/", {"workspace": ws.pk, "action": "accept"})
    assert again.status_code == 400
    assert "no pending invitation" in again.content.decode()


def test_removing_someone_neither_member_nor_invited_is_still_400(ws, owner):
    with pytest.raises(Exception) as err:
        membership_remove(actor=owner, workspace=ws, username="nobody")
    assert "not a member" in str(err.value)
    with pytest.raises(Exception):
        invitation_decline(user=owner, workspace_id=ws.pk)


@pytest.mark.parametrize("n", [1, 6])
def test_invitation_lists_take_constant_queries(ws, owner, django_assert_num_queries, n):
    invitee = f.UserFactory(username="invitee")
    for i in range(n):
        other = f.WorkspaceFactory()
        f.MembershipFactory(workspace=other, user=owner, role=Role.OWNER)
        membership_set(actor=owner, workspace=other, username="invitee", role=Role.VIEWER)
        membership_set(actor=owner, workspace=ws, username=f"person{i}", role=Role.VIEWER)
    mine, theirs = _api(invitee), _api(owner)
    with django_assert_num_queries(2):  # count + page
        assert mine.get("/api/invitations/").json()["count"] == n
    with django_assert_num_queries(4):  # workspace, role check, count, page
        assert theirs.get(f"/api/workspaces/{ws.pk}/invitations/").json()["count"] == n
    page = _web(invitee)
    with django_assert_num_queries(2):  # user, invitations (the session comes from the cache)
        assert page.get("/account/invitations/").status_code == 200
