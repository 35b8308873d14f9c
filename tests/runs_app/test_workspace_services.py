"""Workspaces and membership: creator is owner, only owners manage members, a workspace keeps an owner."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from molexp_site.errors import Conflict
from runs_app.choices import Role
from runs_app.models import Invitation, Membership, Workspace
from runs_app.services import invitation_accept, membership_remove, membership_set, workspace_create
from tests import factories as f


@pytest.mark.django_db
def test_creator_becomes_owner(owner):
    workspace = workspace_create(user=owner, name="Protein lab")
    assert workspace.slug == "protein-lab"
    assert Membership.objects.get(workspace=workspace, user=owner).role == Role.OWNER


@pytest.mark.django_db
def test_duplicate_names_get_distinct_slugs(owner):
    a = workspace_create(user=owner, name="Lab")
    b = workspace_create(user=owner, name="Lab")
    assert a.slug != b.slug


@pytest.mark.django_db
def test_taken_explicit_slug_is_a_field_error(owner, ws):
    with pytest.raises(ValidationError) as err:
        workspace_create(user=owner, name="Another", slug="lab")
    assert "slug" in err.value.message_dict
    assert Workspace.objects.count() == 1


@pytest.mark.django_db
def test_blank_name_is_refused(owner):
    with pytest.raises(ValidationError):
        workspace_create(user=owner, name="   ")
    assert not Workspace.objects.exists()


@pytest.mark.django_db
def test_owner_adds_and_changes_members(ws, owner, outsider):
    # Changed with issue 12 (intentionally): a non-member is invited and joins on accepting.
    invitation = membership_set(actor=owner, workspace=ws, username="outsider", role=Role.VIEWER)
    assert isinstance(invitation, Invitation)
    assert not Membership.objects.filter(workspace=ws, user=outsider).exists()
    invitation_accept(user=outsider, workspace_id=ws.pk)
    membership_set(actor=owner, workspace=ws, username="outsider", role=Role.EDITOR)
    assert Membership.objects.get(workspace=ws, user=outsider).role == Role.EDITOR


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_non_owners_cannot_manage_members(ws, users, role, outsider):
    with pytest.raises(PermissionDenied):
        membership_set(actor=users[role], workspace=ws, username="outsider", role=Role.VIEWER)
    assert not Membership.objects.filter(workspace=ws, user=outsider).exists()


@pytest.mark.django_db
def test_outsider_cannot_even_see_the_workspace(ws, outsider):
    with pytest.raises(Http404):
        membership_set(actor=outsider, workspace=ws, username="outsider", role=Role.OWNER)


@pytest.mark.django_db
def test_unknown_role_is_a_field_error_and_an_unknown_user_is_invited_like_anyone(ws, owner):
    # Changed with issue 12: "no user named x" enumerated usernames; an unknown name gets an invitation.
    invitation = membership_set(actor=owner, workspace=ws, username="nobody", role=Role.VIEWER)
    assert isinstance(invitation, Invitation) and invitation.username == "nobody"
    with pytest.raises(ValidationError) as err:
        membership_set(actor=owner, workspace=ws, username="viewer", role="admin")
    assert "role" in err.value.message_dict


@pytest.mark.django_db
def test_last_owner_cannot_leave_or_be_demoted(ws, owner):
    with pytest.raises(Conflict):
        membership_set(actor=owner, workspace=ws, username="owner", role=Role.VIEWER)
    with pytest.raises(Conflict):
        membership_remove(actor=owner, workspace=ws, username="owner")
    assert Membership.objects.get(workspace=ws, user=owner).role == Role.OWNER


@pytest.mark.django_db
def test_owner_removes_member(ws, owner, viewer):
    membership_remove(actor=owner, workspace=ws, username="viewer")
    assert not Membership.objects.filter(workspace=ws, user=viewer).exists()


@pytest.mark.django_db
def test_staff_manage_any_workspace(ws, staff, outsider):
    membership_set(actor=staff, workspace=ws, username="outsider", role=Role.VIEWER)
    invitation_accept(user=outsider, workspace_id=ws.pk)
    assert Membership.objects.filter(workspace=ws, user=outsider).exists()
    f.WorkspaceFactory()
