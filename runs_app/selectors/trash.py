"""Reads of the trash (SPEC §14): the entries of a workspace, for its owners.

Invariants:
- Only owners (and staff) read a workspace's trash; other members get ``PermissionDenied``,
  outsiders ``Http404``. A workspace in the trash is still found here (its owners restore it
  from its trash), and only here.
- The list is one query (entries with the deleting user), newest first, on the
  ``trash_ws_deleted_id`` index.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from ..access import User, scope_to_user, workspace_require_role
from ..choices import Role
from ..models import TrashEntry, Workspace

TRASH_ORDERING = ("-deleted_at", "-id")


def trash_workspace_get(*, user: User, slug: str | None = None, pk: Any = None) -> Workspace:
    """A workspace the user owns, in the trash or not (``Http404`` for outsiders, 403 for other members)."""
    qs = scope_to_user(Workspace.all_objects.all(), user=user, field="id")
    try:
        workspace = qs.get(**({"slug": slug} if slug is not None else {"pk": pk}))
    except (Workspace.DoesNotExist, ValueError, TypeError):
        raise Http404("No such workspace.") from None
    workspace_require_role(user=user, workspace=workspace, role=Role.OWNER)
    return workspace


def trash_list(*, workspace: Workspace) -> QuerySet[TrashEntry]:
    """The workspace's trash, newest first; the caller got ``workspace`` from ``trash_workspace_get``."""
    return TrashEntry.objects.filter(workspace=workspace).select_related("deleted_by").order_by(*TRASH_ORDERING)


def trash_entry_get(*, user: User, pk: Any) -> TrashEntry:
    """One entry of a workspace the user owns (``Http404`` when invisible, ``PermissionDenied`` below owner)."""
    qs = scope_to_user(TrashEntry.objects.select_related("workspace"), user=user)
    try:
        entry = qs.get(pk=pk)
    except (TrashEntry.DoesNotExist, ValueError, TypeError):
        raise Http404("No such trash entry.") from None
    workspace_require_role(user=user, workspace=entry.workspace, role=Role.OWNER)
    return entry
