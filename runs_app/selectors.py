"""Reads of runs_app, scoped to what a user may see.

Invariants:
- Every selector that takes ``user`` returns only rows of workspaces the user is
  a member of (staff see all). Pages, the API and commands share these
  functions, so scoping cannot drift between them.
- A row the user may not see is reported as ``Http404`` (never 403), so an
  outsider cannot even learn that it exists.
- List selectors return querysets shaped for their page (``select_related``,
  ``only``) so that a page costs a constant number of queries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from .choices import ROLE_RANK, ExecutionStatus, Role, RunStatus
from .models import Execution, Experiment, Membership, Metric, Project, Run, RunEvent, Workspace

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


def workspace_list(*, user: User) -> QuerySet[Workspace]:
    qs = scope_to_user(Workspace.objects.all(), user=user, field="id")
    return qs.annotate(
        project_count=Count("projects", distinct=True),
    ).order_by("name", "id")


def workspace_get(*, user: User, slug: str | None = None, pk: Any = None) -> Workspace:
    qs = scope_to_user(Workspace.objects.all(), user=user, field="id")
    lookup = {"slug": slug} if slug is not None else {"pk": pk}
    try:
        return qs.get(**lookup)
    except (Workspace.DoesNotExist, ValueError, TypeError):
        raise Http404("No such workspace.") from None


def membership_list(*, user: User, workspace: Workspace) -> QuerySet[Membership]:
    """Members of a workspace, readable by any member."""
    workspace_require_role(user=user, workspace=workspace, role=Role.VIEWER)
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__username")


def project_list(*, user: User, workspace: Workspace | None = None) -> QuerySet[Project]:
    qs = scope_to_user(Project.objects.select_related("workspace"), user=user)
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    return qs.annotate(experiment_count=Count("experiments", distinct=True)).order_by("name", "id")


def project_get(*, user: User, pk: Any = None, workspace: Workspace | None = None, slug: str | None = None) -> Project:
    qs = scope_to_user(Project.objects.select_related("workspace"), user=user)
    try:
        if slug is not None:
            return qs.get(workspace=workspace, slug=slug)
        return qs.get(pk=pk)
    except (Project.DoesNotExist, ValueError, TypeError):
        raise Http404("No such project.") from None


def experiment_list(*, user: User, project: Project | None = None) -> QuerySet[Experiment]:
    qs = scope_to_user(Experiment.objects.select_related("project", "workspace"), user=user)
    if project is not None:
        qs = qs.filter(project=project)
    return qs.annotate(run_count=Count("runs", distinct=True)).order_by("name", "id")


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


RUN_LIST_FIELDS = (
    "id", "number", "status", "params", "profile", "config_hash", "results", "created_at", "started_at",
    "finished_at", "experiment_id", "project_id", "workspace_id", "launched_by_id",
    "experiment__name", "experiment__slug", "project__name", "project__slug", "workspace__name", "workspace__slug",
    "launched_by__username",
)  # fmt: skip


def run_list(*, user: User, filters: dict[str, Any] | None = None) -> QuerySet[Run]:
    """Runs the user may read, newest first, with what a list row shows (one query)."""
    qs = scope_to_user(Run.objects.all(), user=user)
    filters = filters or {}
    for key in ("experiment", "project", "workspace"):
        if filters.get(key) not in (None, ""):
            qs = qs.filter(**{f"{key}_id": filters[key]})
    for key in ("status", "profile", "config_hash"):
        if filters.get(key) not in (None, ""):
            qs = qs.filter(**{key: filters[key]})
    return qs.select_related("experiment", "project", "workspace", "launched_by").only(*RUN_LIST_FIELDS).order_by("-id")


def run_get(*, user: User, pk: Any) -> Run:
    qs = scope_to_user(Run.objects.select_related("experiment", "project", "workspace", "launched_by"), user=user)
    try:
        return qs.get(pk=pk)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run.") from None


def run_get_by_number(*, user: User, experiment: Experiment, number: Any) -> Run:
    qs = scope_to_user(Run.objects.select_related("experiment", "project", "workspace", "launched_by"), user=user)
    try:
        return qs.get(experiment=experiment, number=number)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run.") from None


def execution_list(*, run: Run) -> QuerySet[Execution]:
    """A run's attempts, oldest first, with their task executions (2 queries)."""
    return Execution.objects.filter(run=run).prefetch_related("task_executions").order_by("number")


def run_event_list(*, run: Run) -> QuerySet[RunEvent]:
    return RunEvent.objects.filter(run=run).order_by("id")


def dashboard_running(*, user: User, limit: int = 20) -> list[Run]:
    statuses = [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING]
    return list(run_list(user=user).filter(status__in=statuses)[:limit])


def dashboard_recent_failures(*, user: User, limit: int = 10) -> list[Run]:
    return list(run_list(user=user).filter(status__in=[RunStatus.FAILED, RunStatus.LOST])[:limit])


def execution_stale_list(*, older_than) -> QuerySet[Execution]:
    """Running executions whose heartbeat (or start, before the first beat) is older than ``older_than``."""
    active = [ExecutionStatus.RUNNING, ExecutionStatus.CANCELLING]
    return Execution.objects.filter(status__in=active).filter(
        Q(heartbeat_at__lt=older_than) | Q(heartbeat_at__isnull=True, started_at__lt=older_than)
    )


# --- added for the HTML pages --------------------------------------------------------


def experiment_get_by_path(*, user: User, ws: str, project: str, experiment: str) -> Experiment:
    """The experiment at ``/w/<ws>/p/<project>/e/<experiment>/`` in one query; ``Http404`` if invisible."""
    qs = scope_to_user(Experiment.objects.select_related("project", "workspace"), user=user)
    try:
        return qs.get(workspace__slug=ws, project__slug=project, slug=experiment)
    except (Experiment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such experiment.") from None


def run_get_by_path(*, user: User, ws: str, project: str, experiment: str, number: Any) -> Run:
    """The run at its human URL in one query (with experiment, project, workspace); ``Http404`` if invisible."""
    qs = scope_to_user(Run.objects.select_related("experiment", "project", "workspace", "launched_by"), user=user)
    try:
        return qs.get(workspace__slug=ws, project__slug=project, experiment__slug=experiment, number=number)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run.") from None


def metric_latest_list(*, run: Run) -> QuerySet[Metric]:
    """The last recorded point of each metric key of a run (highest step, then newest), one query."""
    latest = (
        Metric.objects.filter(run_id=run.pk, key=OuterRef("key"))
        .order_by(F("step").desc(nulls_last=True), "-id")
        .values("id")[:1]
    )
    return (
        Metric.objects.filter(run_id=run.pk)
        .annotate(latest_id=Subquery(latest))
        .filter(id=F("latest_id"))
        .order_by("key")
    )


def workflow_file_list() -> list[str]:
    """The ``.py`` files under ``settings.MOLEXP_WORKFLOW_DIRS``, as paths relative to their directory.

    Hidden or private (``.``/``_``-prefixed) parts and symlinks leaving the directory are
    skipped; the result is sorted and de-duplicated (the first directory wins,
    as in ``services.workflow_resolve``).
    """
    found: list[str] = []
    for directory in settings.MOLEXP_WORKFLOW_DIRS:
        root = Path(directory).resolve()
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root)
            # hidden files and private helper modules ("_util.py", "__pycache__") are not workflows
            if any(part.startswith((".", "_")) for part in rel.parts):
                continue
            if not path.resolve().is_relative_to(root) or not path.is_file():
                continue
            name = rel.as_posix()
            if name not in found:
                found.append(name)
    return sorted(found)


def api_token_get(*, user: User):
    """The user's DRF API token, or None."""
    from rest_framework.authtoken.models import Token

    if not user.is_authenticated:
        return None
    return Token.objects.filter(user_id=user.pk).first()


# --- added for the REST API ----------------------------------------------------------


def workspace_list_with_role(*, user: User) -> QuerySet[Workspace]:
    """``workspace_list`` annotated with ``role``: the caller's role in each workspace, in the same query.

    Staff count as owner everywhere, as in ``workspace_role``.
    """
    from django.db import models as db_models

    if _is_staff(user):
        role = db_models.Value(Role.OWNER, output_field=db_models.CharField())
    else:
        mine = Membership.objects.filter(workspace_id=db_models.OuterRef("pk"), user_id=user.pk).values("role")[:1]
        role = db_models.Subquery(mine, output_field=db_models.CharField())
    return workspace_list(user=user).annotate(role=role)


# --- added for the launch and run-control API -----------------------------------------

#: Points per metric key that ``metric_series`` returns at most.
METRIC_SERIES_MAX_POINTS = 2000


def run_list_with_executions(*, user: User, pks: list[int]) -> QuerySet[Run]:
    """Runs ``pks`` the user may read with their executions and task executions prefetched (3 queries).

    The executions are on ``run.execution_rows``, oldest first, as ``execution_list`` orders them.
    """
    from django.db.models import Prefetch

    executions = Execution.objects.order_by("number").prefetch_related("task_executions")
    qs = scope_to_user(Run.objects.filter(pk__in=pks), user=user)
    return (
        qs.select_related("experiment", "project", "workspace", "launched_by")
        .prefetch_related(Prefetch("executions", queryset=executions, to_attr="execution_rows"))
        .order_by("number", "id")
    )


def run_list_by_config_hash(*, user: User, workspace: Workspace, config_hash: str) -> QuerySet[Run]:
    """Runs of ``workspace`` the user may read whose config hashes to ``config_hash``, newest first.

    Used by the launch preview ("this configuration already ran"); the row shape
    of ``run_list`` (experiment, project and workspace slugs for the run's URL).
    """
    return run_list(user=user, filters={"workspace": workspace.pk, "config_hash": config_hash})


def metric_series(
    *, run: Run, keys: list[str] | None = None, max_points: int = METRIC_SERIES_MAX_POINTS
) -> dict[str, dict[str, Any]]:
    """The metric series of a run, key → ``{"total": n, "points": [Metric, …]}``, in one query.

    Points are ordered by step (points without a step first), then by insertion.
    A key with more than ``max_points`` points is downsampled in the database to
    every n-th point counted back from the last one (n = ceil(total / max_points)),
    so the last point is always kept and at most ``max_points`` are returned per key.
    ``keys`` (optional) restricts the keys; unknown keys are absent from the result.
    """
    from django.db.models import Count, Window
    from django.db.models.functions import Mod, RowNumber

    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    qs = Metric.objects.filter(run_id=run.pk)
    if keys:
        qs = qs.filter(key__in=keys)
    backwards = [F("step").desc(nulls_last=True), F("id").desc()]
    qs = qs.annotate(
        from_end=Window(RowNumber(), partition_by=[F("key")], order_by=backwards),
        total=Window(Count("id"), partition_by=[F("key")]),
    )
    # Integer division on both SQLite and PostgreSQL: the stride is ceil(total / max_points).
    stride = (F("total") + (max_points - 1)) / max_points
    qs = qs.annotate(phase=Mod(F("from_end") - 1, stride)).filter(phase=0)
    rows = qs.only("key", "step", "value", "created_at").order_by("key", F("step").asc(nulls_first=True), "id")
    series: dict[str, dict[str, Any]] = {}
    for point in rows:
        entry = series.setdefault(point.key, {"total": point.total, "points": []})
        entry["points"].append(point)
    return series


# --- added for the live run and launch pages --------------------------------------------


def execution_latest(*, run: Run) -> Execution | None:
    """The run's newest execution (highest number), or None; one query."""
    return Execution.objects.filter(run_id=run.pk).order_by("-number").first()


def execution_queue_position(*, execution: Execution) -> int:
    """1-based place of a queued execution in the queue: queued executions queued before it, plus one.

    The queue is global (workers take executions of every workspace), but only a count
    is returned, so nothing about other workspaces is revealed. One query.
    """
    ahead = Execution.objects.filter(status=ExecutionStatus.QUEUED).filter(
        Q(queued_at__lt=execution.queued_at) | Q(queued_at=execution.queued_at, id__lt=execution.pk)
    )
    return ahead.count() + 1


def metric_latest_by_run(*, run_ids: list[int]) -> dict[int, list[Metric]]:
    """The last point of every metric key of each run in ``run_ids``, run id → metrics by key; one query."""
    if not run_ids:
        return {}
    latest = (
        Metric.objects.filter(run_id=OuterRef("run_id"), key=OuterRef("key"))
        .order_by(F("step").desc(nulls_last=True), "-id")
        .values("id")[:1]
    )
    rows = (
        Metric.objects.filter(run_id__in=run_ids)
        .annotate(latest_id=Subquery(latest))
        .filter(id=F("latest_id"))
        .only("id", "run_id", "key", "step", "value")
        .order_by("run_id", "key")
    )
    found: dict[int, list[Metric]] = {}
    for metric in rows:
        found.setdefault(metric.run_id, []).append(metric)
    return found


def run_source_diff(*, run: Run, context_lines: int = 3) -> dict[str, Any]:
    """The run's snapshot source against the workflow file as it is now (``difflib.unified_diff``).

    Returns ``{"status": "identical" | "changed" | "missing", "diff": str, "message": str}``:
    ``missing`` when the run has no stored source or the file is gone (the message says which).
    One query (the source blob); reads the current file, never imports it.
    """
    import difflib

    from django.core.exceptions import ValidationError

    from .models import SourceBlob
    from .services import workflow_resolve

    snapshot = run.workflow_snapshot or {}
    source_name = snapshot.get("workflow_source") or run.experiment.workflow_source
    content = SourceBlob.objects.filter(pk=run.source_blob_id).values_list("content", flat=True).first()
    if content is None:
        return {"status": "missing", "diff": "", "message": "This run has no stored source snapshot."}
    try:
        current = workflow_resolve(source_name).read_bytes()
    except (ValidationError, OSError):
        return {"status": "missing", "diff": "", "message": f"The workflow file {source_name!r} is no longer there."}
    old = bytes(content)
    if old == current:
        return {"status": "identical", "diff": "", "message": ""}
    lines = difflib.unified_diff(
        old.decode("utf-8", errors="replace").splitlines(keepends=True),
        current.decode("utf-8", errors="replace").splitlines(keepends=True),
        fromfile=f"{source_name} (run snapshot)",
        tofile=f"{source_name} (current)",
        n=context_lines,
    )
    return {"status": "changed", "diff": "".join(lines), "message": ""}


# --- added for reproduce and verify ------------------------------------------------------


def run_list_same_config(*, user: User, run: Run) -> QuerySet[Run]:
    """Other runs of ``run``'s workspace the user may read with the same ``config_hash``, newest first.

    Each row has ``same_source`` (the same workflow snapshot sha256, i.e. the same
    ``SourceBlob``) and the row shape of ``run_list``; one query. Empty for a run
    without a config hash.
    """
    from django.db.models import BooleanField, ExpressionWrapper

    if not run.config_hash:
        return Run.objects.none()
    same_source = ExpressionWrapper(Q(source_blob_id=run.source_blob_id), output_field=BooleanField())
    if run.source_blob_id is None:
        same_source = ExpressionWrapper(Q(pk__in=[]), output_field=BooleanField())
    return (
        run_list(user=user, filters={"workspace": run.workspace_id, "config_hash": run.config_hash})
        .exclude(pk=run.pk)
        .annotate(same_source=same_source)
    )


def run_list_reproductions(*, user: User, run: Run) -> QuerySet[Run]:
    """The reproductions of ``run`` the user may read, newest first, with their verdicts; one query."""
    qs = scope_to_user(Run.objects.filter(reproduction_of_id=run.pk), user=user)
    return qs.select_related("experiment", "project", "workspace", "launched_by").order_by("-id")
