"""Reads of runs: the scoped run list (and its row shape), lookups by id, number and URL, and
the run lists of the dashboard, the queue bound, the launch API and reproduce.

Invariants:
- Every run list is ``run_list`` underneath: one query, the row shape ``RUN_LIST_FIELDS``,
  ordered by ``RUN_LIST_ORDERING`` (the keyset pages of ``molexp_site.keyset`` seek on it).
- Scoped to the user's workspaces (``runs_app.access``); an invisible run is ``Http404``.
- Run conditions (status, config hash, fingerprint, …) are plain ``filters`` keys or the
  ``RunFilterSet`` on top of ``run_list``, so pages and the API filter the same way.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Prefetch, Q, QuerySet
from django.http import Http404

from ..access import User, scope_runs_of_experiment, scope_to_user
from ..choices import RunStatus
from ..models import Execution, Experiment, Run, Workspace

RUN_LIST_FIELDS = (
    "id", "number", "status", "params", "profile", "config_hash", "fingerprint", "results", "created_at", "started_at",
    "finished_at", "experiment_id", "project_id", "workspace_id", "launched_by_id", "sweep_id",
    "experiment__name", "experiment__slug", "project__name", "project__slug", "workspace__name", "workspace__slug",
    "launched_by__username", "tags", "notes",
)  # fmt: skip

#: The order of every run list, newest first; ids break ties on ``created_at``. Keyset pages seek
#: on it (``molexp_site.keyset``), served by the ``run_*_created_id`` indexes.
RUN_LIST_ORDERING = ("-created_at", "-id")


def run_list(*, user: User, filters: dict[str, Any] | None = None) -> QuerySet[Run]:
    """Runs the user may read, newest first (``RUN_LIST_ORDERING``), with what a list row shows (one query).

    ``filters["experiment"]`` scopes by the experiment's workspace, one value (``scope_runs_of_experiment``).
    """
    filters = filters or {}
    if filters.get("experiment") not in (None, ""):  # one experiment: its scope check is one value
        qs = scope_runs_of_experiment(Run.objects.all(), user=user, experiment_id=filters["experiment"])
    else:
        qs = scope_to_user(Run.objects.all(), user=user)
    for key in ("project", "workspace"):
        if filters.get(key) not in (None, ""):
            qs = qs.filter(**{f"{key}_id": filters[key]})
    for key in ("status", "profile", "config_hash", "fingerprint"):
        if filters.get(key) not in (None, ""):
            qs = qs.filter(**{key: filters[key]})
    return (
        qs.select_related("experiment", "project", "workspace", "launched_by")
        .only(*RUN_LIST_FIELDS)
        .order_by(*RUN_LIST_ORDERING)
    )


def run_get_by_number(*, user: User, experiment: Experiment, number: Any) -> Run:
    qs = scope_to_user(Run.objects.select_related("experiment", "project", "workspace", "launched_by"), user=user)
    try:
        return qs.get(experiment=experiment, number=number)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run.") from None


def run_get_by_path(*, user: User, ws: str, project: str, experiment: str, number: Any) -> Run:
    """The run at its human URL in one query (with experiment, project, workspace, and the run it was
    cloned from, named "<experiment> #<number>" on its page); ``Http404`` if invisible."""
    qs = scope_to_user(
        Run.objects.select_related("experiment", "project", "workspace", "launched_by", "cloned_from__experiment"),
        user=user,
    )
    try:
        return qs.get(workspace__slug=ws, project__slug=project, experiment__slug=experiment, number=number)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run.") from None


def run_list_with_executions(*, user: User, pks: list[int]) -> QuerySet[Run]:
    """Runs ``pks`` the user may read with their executions and task executions prefetched (3 queries).

    The executions are on ``run.execution_rows``, oldest first, as ``execution_list`` orders them.
    """
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


def run_list_same_config(*, user: User, run: Run) -> QuerySet[Run]:
    """Other runs of ``run``'s workspace the user may read with the same ``config_hash``, newest first.

    Each row has ``same_source`` (the same workflow snapshot sha256, i.e. the same
    ``SourceBlob``) and the row shape of ``run_list``; one query. Empty for a run
    without a config hash.
    """
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


def run_queued_counts(*, user: User | None, workspace_id: int) -> dict[str, int | None]:
    """Runs waiting in ``queued``: the user's (``None`` without a signed-in user) and the workspace's.

    One statement on every launch, so written out: two filtered counts over the queued runs
    that are the user's or the workspace's (indexes ``run_queued_by_user`` and
    ``run_ws_status_created_id``); the ORM's aggregate compiler cost more than the query.
    """
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    table = connection.ops.quote_name(Run._meta.db_table)
    sql = (
        f"SELECT COUNT(*) FILTER (WHERE launched_by_id = %s), COUNT(*) FILTER (WHERE workspace_id = %s) "  # noqa: S608
        f"FROM {table} WHERE status = %s AND (launched_by_id = %s OR workspace_id = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, workspace_id, RunStatus.QUEUED.value, user_id, workspace_id])
        mine, in_workspace = cursor.fetchone()
    return {"user": None if user_id is None else mine, "workspace": in_workspace}


def dashboard_running(*, user: User, limit: int = 20) -> list[Run]:
    statuses = [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING]
    return list(run_list(user=user).filter(status__in=statuses)[:limit])


def dashboard_recent_failures(*, user: User, limit: int = 10) -> list[Run]:
    return list(run_list(user=user).filter(status__in=[RunStatus.FAILED, RunStatus.LOST])[:limit])
