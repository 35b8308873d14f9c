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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.http import Http404

# The access rules (scoping, roles, the scoped lookups assets need) live in ``access.py`` at the
# bottom of the import graph; they are re-exported here so existing callers keep working.
# New code imports them from ``runs_app.access``.
from .access import (  # noqa: F401
    _is_staff,
    experiment_get,
    experiment_list,
    external_execution_for_write,
    project_get,
    project_list,
    role_at_least,
    run_get,
    scope_to_user,
    visible_workspace_ids,
    workspace_get,
    workspace_require_role,
    workspace_role,
)
from .choices import ExecutionStatus, Role, RunStatus
from .models import Execution, Experiment, Invitation, Membership, Metric, Run, RunEvent, Workspace

User = AbstractBaseUser | AnonymousUser


def workspace_list(*, user: User) -> QuerySet[Workspace]:
    qs = scope_to_user(Workspace.objects.all(), user=user, field="id")
    return qs.annotate(
        project_count=Count("projects", distinct=True),
    ).order_by("name", "id")


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


RUN_LIST_FIELDS = (
    "id", "number", "status", "params", "profile", "config_hash", "fingerprint", "results", "created_at", "started_at",
    "finished_at", "experiment_id", "project_id", "workspace_id", "launched_by_id",
    "experiment__name", "experiment__slug", "project__name", "project__slug", "workspace__name", "workspace__slug",
    "launched_by__username",
)  # fmt: skip


#: The order of every run list, newest first; ids break ties on ``created_at``. Keyset pages seek
#: on it (``molexp_site.keyset``), served by the ``run_*_created_id`` indexes.
RUN_LIST_ORDERING = ("-created_at", "-id")


def run_list(*, user: User, filters: dict[str, Any] | None = None) -> QuerySet[Run]:
    """Runs the user may read, newest first (``RUN_LIST_ORDERING``), with what a list row shows (one query)."""
    qs = scope_to_user(Run.objects.all(), user=user)
    filters = filters or {}
    for key in ("experiment", "project", "workspace"):
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


def execution_list(*, run: Run) -> QuerySet[Execution]:
    """A run's attempts, oldest first, with their task executions (2 queries)."""
    return Execution.objects.filter(run=run).prefetch_related("task_executions").order_by("number")


def run_event_list(*, run: Run) -> QuerySet[RunEvent]:
    """All of a run's status events, oldest first (unbounded: for exports; pages use ``run_event_page``)."""
    return RunEvent.objects.filter(run=run).order_by("id")


@dataclass
class RunEventPage:
    """One page of a run's status history, oldest first, with whether older/newer events exist."""

    events: list[RunEvent]
    has_older: bool
    has_newer: bool

    @property
    def first_id(self) -> int | None:
        return self.events[0].pk if self.events else None

    @property
    def last_id(self) -> int | None:
        return self.events[-1].pk if self.events else None


def run_event_page(
    *, run: Run, after: int | None = None, before: int | None = None, latest: bool = False, size: int | None = None
) -> RunEventPage:
    """A page of ``size`` status events of a run, keyset-paginated on ``id`` (2 queries whatever the history).

    ``after``: the events following that id; ``before``: the events preceding it;
    ``latest``: the newest events; none: the first events. Each page is shown oldest
    first. A run may carry hundreds of thousands of events (an imported record); a
    page reads an index range of the ``(run, id)`` index, never the whole history.
    """
    size = size or settings.MOLEXP_RUN_EVENTS_PAGE_SIZE
    events = RunEvent.objects.filter(run=run)
    if before is not None or latest:
        page = events.filter(id__lt=before) if before is not None else events
        rows = list(page.order_by("-id")[: size + 1])
        has_older = len(rows) > size
        rows = rows[:size][::-1]
        has_newer = bool(rows) and events.filter(id__gt=rows[-1].pk).exists()
        return RunEventPage(events=rows, has_older=has_older, has_newer=has_newer)
    page = events.filter(id__gt=after) if after is not None else events
    rows = list(page.order_by("id")[: size + 1])
    has_newer = len(rows) > size
    rows = rows[:size]
    has_older = bool(rows) and after is not None and events.filter(id__lt=rows[0].pk).exists()
    return RunEventPage(events=rows, has_older=has_older, has_newer=has_newer)


#: Query parameters of a run's history page (the run page and ``/api/runs/{id}/history/``).
EVENT_CURSOR_PARAMS = ("events_after", "events_before")


def run_event_page_for_query(*, run: Run, query) -> RunEventPage:
    """``run_event_page`` for a request's query: ``events_after=<id>``, ``events_before=<id>`` or ``events=latest``.

    Raises ``ValidationError`` for a cursor that is not an id (not a 500, whatever its length).
    """
    cursors: dict[str, int] = {}
    for name in EVENT_CURSOR_PARAMS:
        raw = query.get(name)
        if raw in (None, ""):
            continue
        if not (isinstance(raw, str) and raw.isdigit() and len(raw) <= 18):
            raise ValidationError({name: f"{name} must be an event id (a non-negative integer)."})
        cursors[name] = int(raw)
    if len(cursors) > 1:
        raise ValidationError({"events_after": "Give events_after or events_before, not both."})
    return run_event_page(
        run=run,
        after=cursors.get("events_after"),
        before=cursors.get("events_before"),
        latest=query.get("events") == "latest",
    )


def run_queued_counts(*, user: User | None, workspace_id: int) -> dict[str, int | None]:
    """Runs waiting in ``queued``: the user's (``None`` without a signed-in user) and the workspace's.

    Two indexed counts (``run_queued_by_user``, ``run_ws_status_created_id``), for the queue bound.
    """
    queued = Run.objects.filter(status=RunStatus.QUEUED)
    mine = queued.filter(launched_by=user).count() if getattr(user, "is_authenticated", False) else None
    return {"user": mine, "workspace": queued.filter(workspace_id=workspace_id).count()}


def dashboard_running(*, user: User, limit: int = 20) -> list[Run]:
    statuses = [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING]
    return list(run_list(user=user).filter(status__in=statuses)[:limit])


def dashboard_recent_failures(*, user: User, limit: int = 10) -> list[Run]:
    return list(run_list(user=user).filter(status__in=[RunStatus.FAILED, RunStatus.LOST])[:limit])


def execution_stale_list(*, older_than, external_older_than=None) -> QuerySet[Execution]:
    """Running executions whose heartbeat (or start, before the first beat) is older than ``older_than``.

    External executions (the molexp client) use their own window, ``external_older_than``.
    """
    from .choices import Trigger

    def silent(cutoff):
        return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)

    active = [ExecutionStatus.RUNNING, ExecutionStatus.CANCELLING]
    external = Q(trigger=Trigger.EXTERNAL)
    cond = ~external & silent(older_than)
    if external_older_than is not None:
        cond |= external & silent(external_older_than)
    return Execution.objects.filter(status__in=active).filter(cond)


# --- added for the HTML pages --------------------------------------------------------


def experiment_get_by_path(
    *, user: User, ws: str, project: str, experiment: str, with_role: bool = False
) -> Experiment:
    """The experiment at ``/w/<ws>/p/<project>/e/<experiment>/`` in one query; ``Http404`` if invisible.

    ``with_role``: also annotate ``role``, the user's role in its workspace (as ``workspace_role``:
    staff count as owner) in the same query, so a list page stays within its query budget.
    """
    qs = scope_to_user(Experiment.objects.select_related("project", "workspace"), user=user)
    if with_role:
        from django.db.models import CharField, Value

        if _is_staff(user):
            qs = qs.annotate(role=Value(Role.OWNER, output_field=CharField()))
        else:
            mine = Membership.objects.filter(workspace_id=OuterRef("workspace_id"), user_id=user.pk).values("role")[:1]
            qs = qs.annotate(role=Subquery(mine, output_field=CharField()))
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


def workflow_part_is_hidden(parts: tuple[str, ...] | list[str]) -> bool:
    """True when a path relative to a workflow directory has a hidden or private part.

    ``.name`` (dot files, hidden folders) and ``_name`` (private helpers such as
    ``_util.py``, ``__pycache__``, ``__init__.py``) are never workflows: discovery skips
    them and ``services.workflow_resolve`` refuses them, so naming one cannot make a
    launch preview or a worker run its top-level code.
    """
    return any(part.startswith((".", "_")) for part in parts)


def server_data_dirs() -> list[Path]:
    """Folders whose bytes come from users or from runs (real paths): never a source of workflow code.

    ``MEDIA_ROOT`` (the asset store and, by default, partial uploads), ``MOLEXP_UPLOAD_DIR``,
    ``MOLEXP_WORK_DIR`` (what tasks write) and ``MOLEXP_VAR_DIR`` (database, broker, cache).
    A workflow file inside one of them is neither listed nor resolved, whatever the
    configuration, and ``manage.py check`` reports the overlap (``runs_app.checks``).
    """
    import os

    found = []
    for value in (
        getattr(settings, "MEDIA_ROOT", ""),
        getattr(settings, "MOLEXP_UPLOAD_DIR", ""),
        getattr(settings, "MOLEXP_WORK_DIR", ""),
        getattr(settings, "VAR_DIR", ""),
    ):
        if value and os.path.isabs(os.fspath(value)):
            found.append(Path(os.path.realpath(value)))
    return found


def path_in_server_data(path: Path) -> bool:
    """True when the real path ``path`` is inside one of :func:`server_data_dirs`."""
    return any(path == data or path.is_relative_to(data) for data in server_data_dirs())


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
            if workflow_part_is_hidden(rel.parts):
                continue
            real = path.resolve()
            if not real.is_relative_to(root) or not path.is_file():
                continue
            if workflow_part_is_hidden(real.relative_to(root).parts) or path_in_server_data(real):
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


#: Sweep cells the launch preview lists one by one (all cells are counted).


def launch_preview_cells(*, user: User, workspace: Workspace, plan) -> dict[str, Any]:
    """Per sweep cell of a launch plan: its params, fingerprint and the newest succeeded run with it.

    One query for all cells (``fingerprint IN (…)``, succeeded, readable by ``user`` in
    ``workspace``). Returns ``{"cells": [...the first MOLEXP_LAUNCH_PREVIEW_MAX_CELLS...], "done": n, "total": n}``.
    """
    fingerprints = [plan.fingerprint(cell) for cell in plan.cells]
    found: dict[str, Run] = {}
    if plan.snapshot_hash:
        from django.db.models import Max

        # The newest succeeded run per fingerprint, as a subquery: one statement, at most one row per cell
        # however many runs share a fingerprint.
        newest = (
            Run.objects.filter(workspace_id=workspace.pk, status="succeeded", fingerprint__in=set(fingerprints))
            .values("fingerprint")
            .annotate(last=Max("id"))
            .values("last")
        )
        for run in run_list(user=user, filters={"workspace": workspace.pk}).filter(pk__in=newest):
            found[run.fingerprint] = run
    cells = [
        {"params": cell, "fingerprint": fp, "succeeded_run": found.get(fp)}
        for cell, fp in zip(plan.cells[: settings.MOLEXP_LAUNCH_PREVIEW_MAX_CELLS], fingerprints, strict=False)
    ]
    return {"cells": cells, "done": sum(1 for fp in fingerprints if fp in found), "total": len(fingerprints)}


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
    """Every file of the run's code snapshot against the workflow's source tree as it is now.

    Returns ``{"status": "identical" | "changed" | "missing", "diff": str, "message": str,
    "files": [{"path", "status", "diff"}…]}`` (file statuses: identical, changed, added,
    removed; see ``runs_app.snapshot``). ``missing`` when the run has no stored source or
    the workflow file is gone (the message says which). One query (the source blob); reads
    the current files, never imports them. An older one-file snapshot is compared with the
    workflow file alone.
    ``imported`` for a run imported from a crate: its workflow name came from the crate, so no
    server file is read for it at all (SPEC §12; docs/security.md "Only server workflow code runs").
    """
    from pathlib import PurePosixPath

    from django.core.exceptions import ValidationError

    from . import snapshot as code_snapshot
    from .models import SourceBlob
    from .profiles import MOLCFG_NAME, ProfileError, load_molcfg
    from .services import workflow_resolve

    if run.imported:
        return {
            "status": "imported",
            "diff": "",
            "files": [],
            "message": "Imported from an RO-Crate: the snapshot is the crate's and is not compared with this "
            "server's files.",
        }
    recorded = run.workflow_snapshot or {}
    source_name = recorded.get("workflow_source") or run.experiment.workflow_source
    content = SourceBlob.objects.filter(pk=run.source_blob_id).values_list("content", flat=True).first()
    if content is None:
        return {"status": "missing", "diff": "", "message": "This run has no stored source snapshot.", "files": []}
    try:
        path = workflow_resolve(source_name)
        current_source = path.read_bytes()
    except (ValidationError, OSError):
        return {"status": "missing", "diff": "", "files": [],
                "message": f"The workflow file {source_name!r} is no longer there."}  # fmt: skip
    old_manifest = code_snapshot.manifest_of(recorded)
    root = code_snapshot.workflow_root(source_name, path)
    workflow_rel = path.relative_to(root).as_posix()
    try:
        include = load_molcfg(path.parent / MOLCFG_NAME).get("snapshot_include", [])
    except ProfileError:
        include = []
    try:
        now = code_snapshot.bundle_collect(root=root, workflow_rel=workflow_rel, source=current_source, include=include)
        new_manifest = now.manifest
    except ValidationError:  # the tree grew past the snapshot limit: compare the recorded files only
        new_manifest = {}
        now = None
    if not recorded.get("files"):  # one-file snapshot: the workflow file alone
        old_rel = PurePosixPath(source_name.strip()).as_posix()
        new_manifest = {old_rel: {"sha256": _sha256_hex(current_source), "size": len(current_source)}}
    rows = code_snapshot.manifest_compare(old_manifest, new_manifest)
    if now is None:
        for row in rows:
            if row["status"] == "removed" and (root / row["path"]).is_file():
                row["new"] = _sha256_hex((root / row["path"]).read_bytes())
                row["status"] = "identical" if row["new"] == row["old"] else "changed"
    old_blob = bytes(content)
    old_workflow_sha = recorded.get("source_sha256", "")

    def read_old(row: dict) -> bytes | None:
        if row["old"] and row["old"] == old_workflow_sha:
            return old_blob
        return code_snapshot.bundle_file_read(row["old"]) if row["old"] else None

    def read_new(row: dict) -> bytes | None:
        return (root / row["path"]).read_bytes() if row["new"] else None

    diff, files = code_snapshot.manifest_diff(
        rows, read_old=read_old, read_new=read_new, old_label="run snapshot", new_label="current",
        context_lines=context_lines,
    )  # fmt: skip
    changed = [f for f in files if f["status"] != "identical"]
    return {"status": "changed" if changed else "identical", "diff": diff, "message": "", "files": files}


def _sha256_hex(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# --- run comparison (issue 7, item 2) ---------------------------------------------------------

#: Runs one comparison may hold at most.
COMPARE_MAX_RUNS = 20
#: Points per (run, metric key) the overlaid curves get at most.
COMPARE_CHART_POINTS = 500
#: Environment fields compared one by one (``packages`` is compared package by package).
_ENV_FIELDS = ("python", "python_implementation", "platform", "machine")
_GIT_FIELDS = ("git_commit", "git_branch", "git_dirty")


def _canonical(value: Any) -> str:
    """A JSON spelling that tells ``1`` from ``1.0`` and ``true`` (Python's ``==`` does not)."""
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dot path → leaf value; lists and empty mappings are leaves."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: value} if prefix else {}


def _diff_rows(mappings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Key by key over several mappings: ``{"key", "status", "cells": [{"present", "value"}…]}``.

    ``status`` is ``same`` (every mapping has the key with equal values), ``differs`` (every
    mapping has it, values differ) or ``partial`` (only in some). Keys are sorted.
    """
    keys = sorted(set().union(*(m.keys() for m in mappings))) if mappings else []
    rows = []
    for key in keys:
        cells = [{"present": key in m, "value": m.get(key)} for m in mappings]
        if not all(c["present"] for c in cells):
            status = "partial"
        elif len({_canonical(c["value"]) for c in cells}) == 1:
            status = "same"
        else:
            status = "differs"
        rows.append({"key": key, "status": status, "cells": cells})
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"same": 0, "differs": 0, "partial": 0}
    for row in rows:
        counts[row["status"]] += 1
    return counts


def run_compare_parse_ids(values: list[str]) -> list[int]:
    """Run ids from ``?runs=12,15`` (and/or repeated ``runs=``), in order, without repeats.

    Raises ``ValidationError`` unless there are between 2 and ``COMPARE_MAX_RUNS`` valid ids.
    """
    from django.core.exceptions import ValidationError

    ids: list[int] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or len(part) > 18:
                raise ValidationError({"runs": f"{part[:40]!r} is not a run id."})
            if int(part) not in ids:
                ids.append(int(part))
    if len(ids) < 2:
        raise ValidationError({"runs": "Pick at least two runs to compare (?runs=12,15)."})
    if len(ids) > COMPARE_MAX_RUNS:
        raise ValidationError({"runs": f"At most {COMPARE_MAX_RUNS} runs can be compared at once."})
    return ids


def metric_series_for_runs(*, run_ids: list[int], max_points: int = COMPARE_CHART_POINTS) -> dict[int, dict]:
    """``metric_series`` for several runs in one query: run id → key → ``{"total", "points"}``.

    Downsampled per (run, key) exactly as ``metric_series`` does per key (the last point kept).
    """
    from django.db.models import Count, Window
    from django.db.models.functions import Mod, RowNumber

    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    found: dict[int, dict[str, dict[str, Any]]] = {pk: {} for pk in run_ids}
    if not run_ids:
        return found
    backwards = [F("step").desc(nulls_last=True), F("id").desc()]
    part = [F("run_id"), F("key")]
    qs = Metric.objects.filter(run_id__in=run_ids).annotate(
        from_end=Window(RowNumber(), partition_by=part, order_by=backwards),
        total=Window(Count("id"), partition_by=part),
    )
    stride = (F("total") + (max_points - 1)) / max_points
    qs = qs.annotate(phase=Mod(F("from_end") - 1, stride)).filter(phase=0)
    rows = qs.only("run_id", "key", "step", "value").order_by("run_id", "key", F("step").asc(nulls_first=True), "id")
    for point in rows:
        entry = found.setdefault(point.run_id, {}).setdefault(point.key, {"total": point.total, "points": []})
        entry["points"].append(point)
    return found


def _code_diff(base: Run, other: Run, blobs: dict[int, bytes], context_lines: int = 3) -> dict[str, Any]:
    """Every file of two runs' code snapshots (SPEC §12): statuses per file and a unified diff of the changed ones.

    Equal ``snapshot_hash`` (or, for older one-file snapshots, equal ``source_sha256``) is
    ``identical`` without reading a byte; otherwise the changed files are read from the
    bundle store (the workflow file from the already loaded source blobs).
    """
    from . import snapshot as code_snapshot

    base_snap, other_snap = base.workflow_snapshot or {}, other.workflow_snapshot or {}
    base_sha, other_sha = base_snap.get("source_sha256", ""), other_snap.get("source_sha256", "")
    entry = {"run": other.pk, "base": base.pk, "base_sha256": base_sha, "sha256": other_sha,
             "snapshot_hash": other_snap.get("snapshot_hash", ""), "base_snapshot_hash": base_snap.get("snapshot_hash", "")}  # fmt: skip
    if entry["snapshot_hash"] and entry["snapshot_hash"] == entry["base_snapshot_hash"]:
        return {**entry, "status": "identical", "diff": "", "files": []}
    bundles = bool(base_snap.get("files")) and bool(other_snap.get("files"))
    if not bundles and base_sha and base_sha == other_sha:
        return {**entry, "status": "identical", "diff": "", "files": []}
    by_sha = {
        snap.get("source_sha256"): blobs[run.source_blob_id]
        for run, snap in ((base, base_snap), (other, other_snap))
        if run.source_blob_id in blobs and snap.get("source_sha256")
    }
    if not bundles and (base_sha not in by_sha or other_sha not in by_sha):
        return {**entry, "status": "missing", "diff": "", "files": []}
    old_manifest, new_manifest = code_snapshot.manifest_of(base_snap), code_snapshot.manifest_of(other_snap)
    if not bundles:  # an older one-file snapshot on either side: compare the workflow files alone
        old_manifest = {other_snap.get("workflow_source") or "workflow.py": {"sha256": base_sha}}
        new_manifest = {other_snap.get("workflow_source") or "workflow.py": {"sha256": other_sha}}
    rows = code_snapshot.manifest_compare(old_manifest, new_manifest)

    def reader(side: str):
        def read(row: dict) -> bytes | None:
            sha = row.get(side)
            if not sha:
                return None
            return by_sha[sha] if sha in by_sha else code_snapshot.bundle_file_read(sha)

        return read

    diff, files = code_snapshot.manifest_diff(
        rows, read_old=reader("old"), read_new=reader("new"), old_label=f"run {base.pk}, {(entry['base_snapshot_hash'] or base_sha)[:12]}",
        new_label=f"run {other.pk}, {(entry['snapshot_hash'] or other_sha)[:12]}", context_lines=context_lines,
    )  # fmt: skip
    changed = [f for f in files if f["status"] != "identical"]
    status = "changed" if changed else "identical"
    return {
        **entry,
        "status": status,
        "diff": diff,
        "files": [{"path": f["path"], "status": f["status"]} for f in files],
    }


def _inputs_rows(runs: list[Run], uses: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Asset name → the versions each run used; ``status`` as in ``_diff_rows`` (by version and sha256)."""
    names = sorted({u["name"] for r in runs for u in uses.get(r.pk, [])})
    rows = []
    for name in names:
        cells = []
        for r in runs:
            versions = [u for u in uses.get(r.pk, []) if u["name"] == name]
            cells.append({"present": bool(versions), "value": versions})
        if not all(c["present"] for c in cells):
            status = "partial"
        elif len({tuple((u["version"], u["sha256"]) for u in c["value"]) for c in cells}) == 1:
            status = "same"
        else:
            status = "differs"
        rows.append({"key": name, "status": status, "cells": cells})
    return rows


def run_compare(*, user: User, run_ids: list[int]) -> dict[str, Any]:
    """Compare two or more runs of one workspace; the first run is the baseline of the code diffs.

    Returns a JSON-friendly mapping (``runs`` in the order asked, then ``config``, ``params``,
    ``results``, ``metrics``, ``git``, ``environment`` and ``packages`` rows as in
    ``_diff_rows``, ``profile``, ``code`` diffs against the first run, ``inputs`` rows and
    ``curves``: key → one series per run). Constant queries whatever the number of runs:
    runs, source blobs, executions, latest metrics, metric series and asset uses (6).

    Raises ``ValidationError`` for fewer than two or too many ids, and for runs of
    different workspaces; ``Http404`` if any run is invisible to ``user`` (or does not exist).
    """
    from django.core.exceptions import ValidationError

    from assets_app.selectors import asset_use_versions_for_runs  # runs_app reaches assets through assets_app

    from .models import SourceBlob

    if len(run_ids) < 2:
        raise ValidationError({"runs": "Pick at least two runs to compare."})
    if len(run_ids) > COMPARE_MAX_RUNS:
        raise ValidationError({"runs": f"At most {COMPARE_MAX_RUNS} runs can be compared at once."})
    qs = scope_to_user(Run.objects.filter(pk__in=run_ids), user=user)
    found = {r.pk: r for r in qs.select_related("experiment", "project", "workspace", "launched_by")}
    missing = [pk for pk in run_ids if pk not in found]
    if missing:
        raise Http404(f"No such run: {', '.join(str(pk) for pk in missing)}.")
    runs = [found[pk] for pk in run_ids]
    if len({r.workspace_id for r in runs}) > 1:
        raise ValidationError({"runs": "Runs of different workspaces cannot be compared; pick runs of one workspace."})

    blob_ids = {r.source_blob_id for r in runs if r.source_blob_id}
    blobs = {
        pk: bytes(content) for pk, content in SourceBlob.objects.filter(pk__in=blob_ids).values_list("pk", "content")
    }
    environments: dict[int, dict[str, Any]] = {}
    executions = Execution.objects.filter(run_id__in=run_ids).only("run_id", "number", "environment")
    for execution in executions.order_by("run_id", "number"):
        if execution.environment:  # the newest attempt that recorded one wins
            environments[execution.run_id] = execution.environment
    latest = metric_latest_by_run(run_ids=run_ids)
    series = metric_series_for_runs(run_ids=run_ids)
    uses = asset_use_versions_for_runs(run_ids=run_ids)

    snapshots = [r.workflow_snapshot or {} for r in runs]
    envs = [environments.get(r.pk, {}) for r in runs]
    git = _diff_rows([{k: s[k] for k in _GIT_FIELDS if k in s} for s in snapshots])
    environment = _diff_rows([{k: e[k] for k in _ENV_FIELDS if k in e} for e in envs])
    packages_all = _diff_rows([e.get("packages") or {} if e else {} for e in envs])
    packages = [row for row in packages_all if row["status"] != "same"]
    metric_rows = _diff_rows([{m.key: m.value for m in latest.get(r.pk, [])} for r in runs])
    curve_keys = sorted({key for r in runs for key in series.get(r.pk, {})})
    curves = {
        key: [
            {
                "run": r.pk,
                "total": series[r.pk][key]["total"] if key in series.get(r.pk, {}) else 0,
                "points": [
                    [p.step if p.step is not None else i, p.value]
                    for i, p in enumerate(series.get(r.pk, {}).get(key, {}).get("points", []))
                ],
            }
            for r in runs
        ]
        for key in curve_keys
    }
    config = _diff_rows([_flatten(r.config or {}) for r in runs])
    params = _diff_rows([_flatten(r.params or {}) for r in runs])
    results = _diff_rows([dict(r.results or {}) for r in runs])
    inputs = _inputs_rows(runs, uses)
    return {
        "workspace": runs[0].workspace,
        "runs": runs,
        "config": config,
        "config_summary": _summary(config),
        "params": params,
        "profile": _diff_rows([{"profile": r.profile} for r in runs])[0],
        "code": [_code_diff(runs[0], other, blobs) for other in runs[1:]],
        "topology": _diff_rows([{"topology_hash": s.get("topology_hash", "")} for s in snapshots])[0],
        "git": git,
        "git_diffs": [s.get("git_diff", "") for s in snapshots],
        "inputs": inputs,
        "environment": environment,
        "environment_recorded": [bool(e) for e in envs],
        "packages": packages,
        "packages_same": len(packages_all) - len(packages),
        "results": results,
        "metrics": metric_rows,
        "curves": curves,
    }


# --- workspace activity (issue 7, item 6) -----------------------------------------------------

#: Entries per page of the activity feed.
ACTIVITY_PAGE_SIZE = 50
#: Tie-break between sources at the same ``created_at``: run events sort before assets (newest first).
_ACTIVITY_RANK = {"run": 1, "asset": 0}
#: A bound above every id, so ``(created_at, id < bound)`` keeps every row at that time.
_ID_MAX = 2**63 - 1


def activity_cursor_encode(*, created_at, source: str, pk: int) -> str:
    """An opaque keyset cursor for the entry ``(created_at, source, pk)``."""
    import base64

    raw = f"{created_at.isoformat()}|{source}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def activity_cursor_decode(cursor: str) -> tuple[Any, str, int]:
    """The ``(created_at, source, pk)`` of a cursor; ``ValidationError`` if it is malformed."""
    import base64
    import binascii
    from datetime import datetime

    from django.core.exceptions import ValidationError
    from django.utils import timezone

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, source, pk = raw.split("|")
        created_at = datetime.fromisoformat(stamp)
        if timezone.is_naive(created_at) or source not in _ACTIVITY_RANK or not pk.isdigit() or len(pk) > 18:
            raise ValueError(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"cursor": "This cursor is not valid; start again from the first page."}) from None
    return created_at, source, int(pk)


def activity_filters_clean(data: Any) -> dict[str, Any]:
    """The activity filters from a query dict: ``kind`` (runs | assets), ``project`` (id),
    ``status`` (a run status), ``asset_kind``; empty values are dropped.

    Raises ``ValidationError`` naming each bad value.
    """
    from django.core.exceptions import ValidationError

    from assets_app.selectors import asset_kind_choices  # runs_app reaches assets through assets_app

    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    kind = (data.get("kind") or "").strip()
    if kind:
        if kind in ("runs", "assets"):
            cleaned["kind"] = kind
        else:
            errors["kind"] = "Choose runs or assets."
    project = (data.get("project") or "").strip()
    if project:
        if project.isdigit() and len(project) <= 18:
            cleaned["project"] = int(project)
        else:
            errors["project"] = "Not a project id."
    status = (data.get("status") or "").strip()
    if status:
        if status in RunStatus.values:
            cleaned["status"] = status
        else:
            errors["status"] = f"Unknown run status {status[:40]!r}."
    asset_kind = (data.get("asset_kind") or "").strip()
    if asset_kind:
        if asset_kind in {value for value, _ in asset_kind_choices()}:
            cleaned["asset_kind"] = asset_kind
        else:
            errors["asset_kind"] = f"Unknown asset kind {asset_kind[:40]!r}."
    if errors:
        raise ValidationError(errors)
    return cleaned


def _activity_before(cursor: tuple[Any, str, int] | None, source: str) -> tuple[Any, int] | None:
    """The ``(created_at, id)`` bound of one source after ``cursor`` in (created_at, rank, id) order."""
    if cursor is None:
        return None
    created_at, cursor_source, pk = cursor
    rank, cursor_rank = _ACTIVITY_RANK[source], _ACTIVITY_RANK[cursor_source]
    if rank == cursor_rank:
        return created_at, pk
    # A source ranked below the cursor's keeps its rows at the same instant; one above does not.
    return (created_at, _ID_MAX) if rank < cursor_rank else (created_at, 0)


def workspace_activity(
    *,
    user: User,
    workspace: Workspace,
    filters: dict[str, Any] | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """One page of a workspace's activity: run status events and asset additions, newest first.

    ``filters`` come from ``activity_filters_clean``. A filter that cannot apply to an entry
    excludes it: ``status`` keeps run events only, ``asset_kind`` assets only. Entries are
    ordered by ``(created_at, source, id)`` descending; ``cursor`` (from a previous page's
    ``next_cursor``) continues after that entry. Returns ``{"entries": [...], "next_cursor": str | None}``;
    each entry is ``{"source": "run" | "asset", "created_at", "cursor", "event" | "asset"}``.

    Any member may read (``Http404`` for others). Three queries (role, events, assets) whatever the page size.
    """
    from assets_app.selectors import asset_activity_list  # runs_app reaches assets through assets_app

    from .choices import EventSubject

    workspace_require_role(user=user, workspace=workspace, role=Role.VIEWER)
    limit = limit or ACTIVITY_PAGE_SIZE
    filters = filters or {}
    position = activity_cursor_decode(cursor) if cursor else None
    want_runs = filters.get("kind") in (None, "runs") and not filters.get("asset_kind")
    want_assets = filters.get("kind") in (None, "assets") and not filters.get("status")

    entries: list[dict[str, Any]] = []
    if want_runs:
        events = RunEvent.objects.filter(run__workspace_id=workspace.pk, subject=EventSubject.RUN)
        if filters.get("project") is not None:
            events = events.filter(run__project_id=filters["project"])
        if filters.get("status"):
            events = events.filter(to_status=filters["status"])
        before = _activity_before(position, "run")
        if before is not None:
            events = events.filter(Q(created_at__lt=before[0]) | Q(created_at=before[0], id__lt=before[1]))
        events = (
            events.select_related("run__experiment", "run__project", "run__workspace", "run__launched_by")
            .only(
                "id", "created_at", "from_status", "to_status", "message", "run_id", "run__number",
                "run__status", "run__experiment_id", "run__project_id", "run__workspace_id", "run__launched_by_id",
                "run__experiment__name", "run__experiment__slug", "run__project__name", "run__project__slug",
                "run__workspace__slug", "run__launched_by__username",
            )
            .order_by("-created_at", "-id")[: limit + 1]
        )  # fmt: skip
        entries += [{"source": "run", "created_at": e.created_at, "pk": e.pk, "event": e} for e in events]
    if want_assets:
        assets = asset_activity_list(
            workspace_id=workspace.pk,
            project_id=filters.get("project"),
            kind=filters.get("asset_kind"),
            before=_activity_before(position, "asset"),
            limit=limit + 1,  # one more than a page tells whether an older page exists
        )
        entries += [{"source": "asset", "created_at": a.created_at, "pk": a.pk, "asset": a} for a in assets]
    entries.sort(key=lambda e: (e["created_at"], _ACTIVITY_RANK[e["source"]], e["pk"]), reverse=True)
    page, more = entries[:limit], len(entries) > limit
    for entry in page:
        entry["cursor"] = activity_cursor_encode(created_at=entry["created_at"], source=entry["source"], pk=entry["pk"])
    return {"entries": page, "next_cursor": page[-1]["cursor"] if more and page else None}


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
