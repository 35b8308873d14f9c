"""Workspace invitations: nobody becomes a member of a workspace without accepting (issue 12, finding 1/8).

Invariants:
- An owner (or staff) offering a role to someone who is not a member creates or updates
  one ``Invitation`` row per (workspace, username); a membership exists only after the
  invited user accepts. So a stranger cannot put a victim into a workspace they control
  (where a crafted record would wait for them).
- Inviting is answered the same whether an account with that username exists or not: the
  row holds the name as text, and its user is whoever signs in with that name. Usernames
  cannot be enumerated by inviting.
- Accepting or declining concerns only the caller's own invitation, found by workspace and
  the caller's username; any other combination is the same 404.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from ..choices import Role
from ..models import Invitation, Membership

NO_INVITATION = "You have no pending invitation to this workspace."


def invitation_create(*, actor, workspace, username: str, role: str) -> Invitation:
    """Invite ``username`` to ``workspace`` as ``role`` (the caller has checked that ``actor`` is an owner).

    A pending invitation for the same name gets the new role. Raises ``ValidationError``
    for a blank or over-long name. Writes one ``Invitation`` row.
    """
    username = (username or "").strip()
    if not username or len(username) > 150:
        raise ValidationError({"username": "Enter a username of at most 150 characters."})
    invitation, created = Invitation.objects.select_for_update().get_or_create(
        workspace=workspace, username=username, defaults={"role": role, "invited_by": actor}
    )
    if not created:
        invitation.role = role
        invitation.invited_by = actor
        invitation.save(update_fields=["role", "invited_by"])
    return invitation


def _own_invitation(*, user, workspace_id: Any) -> Invitation:
    try:
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("workspace")
            .filter(workspace_id=int(workspace_id), username=user.get_username())
            .first()
        )
    except (TypeError, ValueError, OverflowError):
        invitation = None
    if invitation is None:
        raise Http404(NO_INVITATION)
    return invitation


@transaction.atomic
def invitation_accept(*, user, workspace_id: Any) -> Membership:
    """The caller accepts their invitation to a workspace: they become a member with its role.

    Deletes the invitation and creates the ``Membership`` (or keeps an existing one as it
    is). Raises ``Http404`` if the caller has no invitation to that workspace.
    """
    invitation = _own_invitation(user=user, workspace_id=workspace_id)
    membership, _ = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": Role(invitation.role)}
    )
    invitation.delete()
    return membership


@transaction.atomic
def invitation_decline(*, user, workspace_id: Any) -> None:
    """The caller declines their invitation to a workspace (deletes it). ``Http404`` if there is none."""
    _own_invitation(user=user, workspace_id=workspace_id).delete()
