"""Reads of workspaces, their members and invitations, projects and experiments.

Invariants:
- Every selector that takes ``user`` returns only rows of workspaces the user is a member
  of (staff see all), through ``runs_app.access.scope_to_user``.
- A row the user may not see is ``Http404`` (never 403): an outsider cannot learn it exists.
- A ``role`` annotation (``with_role``, ``workspace_list_with_role``) is computed in the same
  query as the rows and agrees with ``access.workspace_role`` (staff count as owner).
"""

from __future__ import annotations

from django.db import models as db_models
from django.db.models import CharField, Count, JSONField, OuterRef, Q, QuerySet, Subquery, Value
from django.http import Http404
from rest_framework.authtoken.models import Token

from ..access import (
    User,
    _is_staff,
    archived_filter,
    scope_to_user,
    workspace_require_role,
)
from ..choices import Role
from ..models import Experiment, Invitation, Membership, RunTablePreference, Workspace


def workspace_list(*, user: User, archived: bool | None = None) -> QuerySet[Workspace]:
    """Workspaces ``user`` may read with their project count; ``archived`` as ``access.archived_filter``."""
    qs = archived_filter(scope_to_user(Workspace.objects.all(), user=user, field="id"), archived)
    return qs.annotate(
        project_count=Count("projects", distinct=True, filter=Q(projects__trash__isnull=True)),
    ).order_by("name", "id")


def workspace_list_with_role(*, user: User, archived: bool | None = None) -> QuerySet[Workspace]:
    """``workspace_list`` annotated with ``role``: the caller's role in each workspace, in the same query.

    Staff count as owner everywhere, as in ``workspace_role``.
    """
    if _is_staff(user):
        role = db_models.Value(Role.OWNER, output_field=db_models.CharField())
    else:
        mine = Membership.objects.filter(workspace_id=db_models.OuterRef("pk"), user_id=user.pk).values("role")[:1]
        role = db_models.Subquery(mine, output_field=db_models.CharField())
    return workspace_list(user=user, archived=archived).annotate(role=role)


def membership_list(*, user: User, workspace: Workspace) -> QuerySet[Membership]:
    """Members of a workspace, readable by any member."""
    workspace_require_role(user=user, workspace=workspace, role=Role.VIEWER)
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__username")


def invitation_list(*, user: User, workspace: Workspace) -> QuerySet[Invitation]:
    """Pending invitations of a workspace, readable by any member (the members page shows them)."""
    workspace_require_role(user=user, workspace=workspace, role=Role.VIEWER)
    return (
        Invitation.objects.filter(workspace=workspace)
        .select_related("workspace", "invited_by")
        .order_by("username", "id")
    )


def invitation_list_for_user(*, user: User) -> QuerySet[Invitation]:
    """The caller's own pending invitations, newest first."""
    if not getattr(user, "is_authenticated", False):
        return Invitation.objects.none()
    return (
        Invitation.objects.filter(username=user.get_username())
        .select_related("workspace", "invited_by")
        .order_by("-created_at", "-id")
    )


def experiment_get_by_path(
    *, user: User, ws: str, project: str, experiment: str, with_role: bool = False, with_table_hidden: bool = False
) -> Experiment:
    """The experiment at ``/w/<ws>/p/<project>/e/<experiment>/`` in one query; ``Http404`` if invisible.

    ``with_table_hidden``: also annotate ``table_hidden``, the runs-table columns the user hides
    (None if never chosen).
    ``with_role``: also annotate ``role``, the user's role in its workspace (as ``workspace_role``:
    staff count as owner) in the same query, so a list page stays within its query budget.
    """
    qs = scope_to_user(Experiment.objects.select_related("project", "workspace"), user=user)
    if with_role:
        if _is_staff(user):
            qs = qs.annotate(role=Value(Role.OWNER, output_field=CharField()))
        else:
            mine = Membership.objects.filter(workspace_id=OuterRef("workspace_id"), user_id=user.pk).values("role")[:1]
            qs = qs.annotate(role=Subquery(mine, output_field=CharField()))
    if with_table_hidden:  # the runs table's column chooser (SPEC §15), in the same query
        pref = RunTablePreference.objects.filter(user_id=user.pk, experiment_id=OuterRef("pk")).values("hidden")[:1]
        qs = qs.annotate(table_hidden=Subquery(pref, output_field=JSONField()))
    try:
        return qs.get(workspace__slug=ws, project__slug=project, slug=experiment)
    except (Experiment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such experiment.") from None


def api_token_get(*, user: User):
    """The user's DRF API token, or None."""
    if not user.is_authenticated:
        return None
    return Token.objects.filter(user_id=user.pk).first()
