"""Access rules of both apps: who may see which workspace, and with which role.

The bottom of the import graph (like NetBox's ``utilities/querysets.py``): this
module imports only Django, ``runs_app.models`` and ``runs_app.choices``, so
``runs_app``'s selectors and services and every ``assets_app`` module can use it
without an import cycle (SPEC §1, ``docs/architecture.md``).

Invariants:
- Scoping: every function taking ``user`` returns only rows of workspaces the
  user is a member of; staff see every workspace. ``scope_to_user`` applies that
  to any queryset with a workspace key, so no caller writes the filter itself.
- A row the user may not see is reported as ``Http404`` (never 403): an outsider
  cannot even learn that it exists. A member whose role is too low gets
  ``PermissionDenied``.
- Roles are compared only through ``role_at_least`` (viewer < editor < owner);
  staff count as owner.
- A request authenticated with a scoped token (SPEC §13; ``user.molexp_token_scope``
  set by ``runs_app/api/auth.py``) sees only the token's workspace, with at most
  the token's role, staff included.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Count, Q, QuerySet, Subquery
from django.http import Http404

from molexp_site.errors import Conflict

from .choices import ROLE_RANK, TERMINAL_RUN_STATUSES, Role, Trigger
from .models import Execution, Experiment, Membership, Project, Run, Workspace

User = AbstractBaseUser | AnonymousUser


# --- roles ------------------------------------------------------------------------------------


def role_at_least(have: str | None, needed: str) -> bool:
    """Whether the role ``have`` (None: not a member) satisfies ``needed``: a role satisfies every role below it."""
    return have is not None and ROLE_RANK[Role(have)] >= ROLE_RANK[Role(needed)]


# --- scoping ----------------------------------------------------------------------------------


def _token_scope(user: User) -> tuple[int, str] | None:
    """(workspace id, maximum role) when the request authenticated with a scoped token (``api/auth.py``, SPEC §13)."""
    return getattr(user, "molexp_token_scope", None)


def _is_staff(user: User) -> bool:
    """Staff see everything, except through a scoped token (its workspace and role bound staff too)."""
    return bool(user.is_authenticated and user.is_staff and _token_scope(user) is None)


def visible_workspace_ids(*, user: User) -> QuerySet | None:
    """A subquery of the workspace ids ``user`` may read, or None for staff (everything)."""
    if _is_staff(user):
        return None
    if not user.is_authenticated:
        return Workspace.objects.none().values("id")
    scope = _token_scope(user)
    if scope is not None:  # a scoped token: its one workspace, if the user may read it at all
        if user.is_staff:
            return Workspace.objects.filter(pk=scope[0]).values("id")
        return Membership.objects.filter(user_id=user.pk, workspace_id=scope[0]).values("workspace_id")
    return Membership.objects.filter(user_id=user.pk).values("workspace_id")


def scope_to_user(qs: QuerySet, *, user: User, field: str = "workspace_id") -> QuerySet:
    """Restrict any queryset with a workspace key to what ``user`` may read (NetBox's ``restrict``)."""
    ids = visible_workspace_ids(user=user)
    return qs if ids is None else qs.filter(**{f"{field}__in": ids})


def scope_runs_of_experiment(qs: QuerySet, *, user: User, experiment_id: int) -> QuerySet:
    """Runs ``qs`` narrowed to experiment ``experiment_id`` and to what ``user`` may read.

    ``scope_to_user`` for the runs of one experiment, never wider: a run is kept when its
    workspace is its experiment's and that one is a workspace the user may read (staff: the
    experiment alone). The check is one value (``workspace_id = (SELECT …)``, trashed
    experiments included, as before) rather than a semi-join over the memberships, which
    PostgreSQL merge-joined along the whole workspace index (docs/performance.md).
    """
    qs = qs.filter(experiment_id=experiment_id)
    ids = visible_workspace_ids(user=user)
    if ids is None:
        return qs
    workspace = Experiment.all_objects.filter(pk=experiment_id, workspace_id__in=ids)
    workspace = workspace.order_by().values("workspace_id")[:1]
    return qs.filter(workspace_id=Subquery(workspace))


def workspace_role(*, user: User, workspace: Workspace) -> str | None:
    """The user's role in the workspace; staff count as owner; None for outsiders."""
    if _is_staff(user):
        return Role.OWNER
    if not user.is_authenticated:
        return None
    scope = _token_scope(user)
    if scope is not None:  # a scoped token: its workspace only, and never above its maximum role
        if workspace.pk != scope[0]:
            return None
        role = Role.OWNER if user.is_staff else None
        role = role or _membership_role(user_id=user.pk, workspace_id=workspace.pk)
        return None if role is None else (scope[1] if role_at_least(role, scope[1]) else role)
    return _membership_role(user_id=user.pk, workspace_id=workspace.pk)


def _membership_role(*, user_id: int, workspace_id: int) -> str | None:
    """The ``Membership.role`` of a user in a workspace, or None.

    Written out (like ``run_queued_counts``): every page, API call and launch asks it, and the
    ORM's compiler cost several times the one-row index lookup (``membership_user_ws``).
    """
    table = connection.ops.quote_name(Membership._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT role FROM {table} WHERE user_id = %s AND workspace_id = %s",  # noqa: S608
                       [user_id, workspace_id])  # fmt: skip
        row = cursor.fetchone()
    return None if row is None else row[0]


def workspace_require_role(*, user: User, workspace: Workspace, role: str) -> str:
    """Return the user's role if it is at least ``role``.

    Raises ``Http404`` for non-members (the workspace stays invisible) and
    ``PermissionDenied`` for members whose role is too low.
    """
    have = workspace_role(user=user, workspace=workspace)
    if have is None:
        raise Http404("No such workspace.")
    if not role_at_least(have, role):
        raise PermissionDenied(f"This needs the {role} role in workspace '{workspace.slug}'; you are {have}.")
    return have


def workspaces_with_role_at_least(*, user: User, role: str) -> QuerySet[Workspace]:
    """The workspaces where ``user`` has at least ``role`` (staff: all), unordered: e.g. where they may upload."""
    qs = Workspace.objects.all()
    if _is_staff(user):
        return qs
    scope = _token_scope(user)
    if scope is not None:  # a scoped token: its workspace, when the capped role reaches ``role``
        ws = qs.filter(pk=scope[0]).first()
        if ws is None or not role_at_least(workspace_role(user=user, workspace=ws), role):
            return qs.none()
        return qs.filter(pk=ws.pk)
    roles = [r for r in Role if role_at_least(r, role)]
    return qs.filter(id__in=Membership.objects.filter(user_id=user.pk, role__in=roles).values("workspace_id"))


# --- scoped lookups of the workspace tree (Http404 when invisible) ----------------------------


def workspace_get(*, user: User, slug: str | None = None, pk: Any = None) -> Workspace:
    qs = scope_to_user(Workspace.objects.all(), user=user, field="id")
    lookup = {"slug": slug} if slug is not None else {"pk": pk}
    try:
        return qs.get(**lookup)
    except (Workspace.DoesNotExist, ValueError, TypeError):
        raise Http404("No such workspace.") from None


def archived_filter(qs: QuerySet, archived: bool | None) -> QuerySet:
    """``qs`` narrowed by archive state (SPEC §14): None keeps all, False the active rows, True the archived."""
    return qs if archived is None else qs.filter(archived_at__isnull=not archived)


def _archived_conflict(kind: str, name: str) -> Conflict:
    return Conflict(
        f"The {kind} '{name}' is archived, so it is read-only: "
        "unarchive it (its edit page, or PATCH archived=false) to launch or change anything in it."
    )


def archive_require_active(
    *, workspace: Workspace | None = None, project: Project | None = None, experiment: Experiment | None = None
) -> None:
    """Refuse a write inside an archived workspace, project or experiment (SPEC §14: archived is read-only).

    Raises ``Conflict`` (409) naming the archived object; unarchiving it is the way out.
    The objects are the caller's (already loaded with their parents), so this reads nothing.
    """
    for kind, obj in (("experiment", experiment), ("project", project), ("workspace", workspace)):
        if obj is not None and obj.archived_at is not None:
            raise _archived_conflict(kind, obj.name)


def archive_require_active_experiment(*, experiment_id: int) -> None:
    """``archive_require_active`` for an experiment and its parents, read fresh in one query (launches, reruns).

    Written out (like ``run_queued_counts``): it runs on every launch, and the ORM's compiler
    for the two joins cost several times the query itself. ``Http404`` for a missing or
    trashed experiment.
    """
    experiments, projects, workspaces = (connection.ops.quote_name(m._meta.db_table)
                                         for m in (Experiment, Project, Workspace))  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.name, e.archived_at, p.name, p.archived_at, w.name, w.archived_at FROM {experiments} e "  # noqa: S608
            f"JOIN {projects} p ON p.id = e.project_id JOIN {workspaces} w ON w.id = e.workspace_id "
            "WHERE e.id = %s AND e.trash_id IS NULL",
            [experiment_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Http404("No such experiment.")
    for kind, name, archived_at in (("experiment", row[0], row[1]), ("project", row[2], row[3]),
                                    ("workspace", row[4], row[5])):  # fmt: skip
        if archived_at is not None:
            raise _archived_conflict(kind, name)


def project_list(*, user: User, workspace: Workspace | None = None, archived: bool | None = None) -> QuerySet[Project]:
    qs = archived_filter(scope_to_user(Project.objects.select_related("workspace"), user=user), archived)
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    return qs.annotate(
        experiment_count=Count("experiments", distinct=True, filter=Q(experiments__trash__isnull=True))
    ).order_by("name", "id")


def project_get(*, user: User, pk: Any = None, workspace: Workspace | None = None, slug: str | None = None) -> Project:
    qs = scope_to_user(Project.objects.select_related("workspace"), user=user)
    try:
        if slug is not None:
            return qs.get(workspace=workspace, slug=slug)
        return qs.get(pk=pk)
    except (Project.DoesNotExist, ValueError, TypeError):
        raise Http404("No such project.") from None


def experiment_list(
    *, user: User, project: Project | None = None, archived: bool | None = None
) -> QuerySet[Experiment]:
    qs = archived_filter(scope_to_user(Experiment.objects.select_related("project", "workspace"), user=user), archived)
    if project is not None:
        qs = qs.filter(project=project)
    return qs.annotate(run_count=Count("runs", distinct=True, filter=Q(runs__trash__isnull=True))).order_by(
        "name", "id"
    )


def experiment_get(
    *, user: User, pk: Any = None, project: Project | None = None, slug: str | None = None
) -> Experiment:
    qs = scope_to_user(Experiment.objects.select_related("project", "workspace"), user=user)
    try:
        if slug is not None:
            return qs.get(project=project, slug=slug)
        return qs.get(pk=pk)
    except (Experiment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such experiment.") from None


def run_get(*, user: User, pk: Any) -> Run:
    qs = scope_to_user(Run.objects.select_related("experiment", "project", "workspace", "launched_by"), user=user)
    try:
        return qs.get(pk=pk)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run.") from None


# --- writes to an external run (SPEC §13) ----------------------------------------------------


def external_execution_for_write(*, user: User, run: Run) -> Execution:
    """The external execution of ``run`` if ``user`` may write to it (SPEC §13).

    Only the run's launcher (still a member) and the workspace's editors write;
    ``Http404`` for outsiders, ``PermissionDenied`` for other viewers,
    ``ValidationError`` for a run that is not external, ``Conflict`` (409) once it ended.
    """
    execution = Execution.objects.filter(run_id=run.pk, trigger=Trigger.EXTERNAL).order_by("-number").first()
    role = workspace_role(user=user, workspace=run.workspace)
    if role is None:
        raise Http404("No such run.")
    if execution is None:
        raise ValidationError({"run": "This run is not an external run."})
    is_launcher = run.launched_by_id is not None and run.launched_by_id == getattr(user, "pk", None)
    if not is_launcher and not role_at_least(role, Role.EDITOR):
        raise PermissionDenied("Only the run's launcher and the workspace's editors write to a run.")
    if execution.is_terminal or run.status in TERMINAL_RUN_STATUSES:
        raise Conflict(f"Run #{run.number} is {run.status}: it takes no more writes.")
    return execution
