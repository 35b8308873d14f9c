"""Access rules: which workspaces a user may read, and the user's role in one.

Invariants:
- At the bottom of the import graph: imports only Django and ``runs_app.models``/``choices``,
  so both apps' selectors and services can use it without a cycle.
- Staff read everything and count as owner; anonymous users read nothing.
- Invisible workspaces are ``Http404`` (never 403); a too-low role is ``PermissionDenied``.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from .choices import ROLE_RANK, Role
from .models import Membership, Workspace

User = AbstractBaseUser | AnonymousUser


def _is_staff(user: User) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def visible_workspace_ids(*, user: User) -> QuerySet | None:
    """A subquery of the workspace ids ``user`` may read, or None for staff (everything)."""
    if _is_staff(user):
        return None
    if not user.is_authenticated:
        return Workspace.objects.none().values("id")
    return Membership.objects.filter(user_id=user.pk).values("workspace_id")


def scope_to_user(qs: QuerySet, *, user: User, field: str = "workspace_id") -> QuerySet:
    """Restrict any queryset with a workspace key to what ``user`` may read (NetBox's ``restrict``)."""
    ids = visible_workspace_ids(user=user)
    return qs if ids is None else qs.filter(**{f"{field}__in": ids})


def workspace_role(*, user: User, workspace: Workspace) -> str | None:
    """The user's role in the workspace; staff count as owner; None for outsiders."""
    if _is_staff(user):
        return Role.OWNER
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user_id=user.pk, workspace_id=workspace.pk).values_list("role", flat=True).first()


def workspace_require_role(*, user: User, workspace: Workspace, role: str) -> str:
    """Return the user's role if it is at least ``role``.

    Raises ``Http404`` for non-members (the workspace stays invisible) and
    ``PermissionDenied`` for members whose role is too low.
    """
    have = workspace_role(user=user, workspace=workspace)
    if have is None:
        raise Http404("No such workspace.")
    if ROLE_RANK[Role(have)] < ROLE_RANK[Role(role)]:
        raise PermissionDenied(f"This needs the {role} role in workspace '{workspace.slug}'; you are {have}.")
    return have
