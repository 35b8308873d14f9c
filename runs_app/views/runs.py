"""The run page, its live fragments (status, timeline, metric data) and the run actions.

Invariants: an invisible run is ``Http404``; actions need the editor role (``PermissionDenied``,
403, from the services) and answer a wrong state with a message, never a 500. Polled fragments
return 286 (htmx: stop polling) once the run is terminal.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from molexp_site.errors import Conflict, TooManyRequests
from molexp_site.htmx import render_polled

from .. import selectors, services
from ..access import role_at_least
from ..choices import ExecutionStatus, Role, RunStatus
from ..forms import RunCloneForm, run_event_cursor_clean
from ..policy import run_actions
from .common import format_duration, pretty_json, redirect_after_post

#: Points per metric key the run page's charts get at most.
METRIC_CHART_POINTS = 500


def _live_context(*, user, run) -> dict:
    """What the live status fragment shows: queue position, worker, heartbeat age, allowed actions."""
    execution = selectors.execution_latest(run=run)
    queue_position = None
    if run.status == RunStatus.QUEUED and execution is not None and execution.status == ExecutionStatus.QUEUED:
        queue_position = selectors.execution_queue_position(execution=execution)
    heartbeat_age = None
    if execution is not None and execution.heartbeat_at and not execution.is_terminal:
        heartbeat_age = max(0, int((timezone.now() - execution.heartbeat_at).total_seconds()))
    role = selectors.workspace_role(user=user, workspace=run.workspace)
    actions = run_actions(run=run, role=role)
    return {
        "run": run,
        "execution": execution,
        "queue_position": queue_position,
        "heartbeat_age": heartbeat_age,
        # What the page offers is what the services allow (runs_app.policy).
        "actions": actions,
        "can_edit": actions.can_edit,
        "can_cancel": actions.can_cancel,
        "can_restart": actions.can_restart,
        "can_clone": actions.can_clone,
        # SPEC §14: owners, and the editor who launched it (services.object_delete checks the same).
        "can_delete": role_at_least(role, Role.OWNER)
        or (role_at_least(role, Role.EDITOR) and run.launched_by_id == getattr(user, "pk", None)),
    }


class _PendingTask:
    """A task of the workflow that has no row in an attempt yet: drawn as an empty bar."""

    reused = False
    error = None
    started_at = finished_at = None

    def __init__(self, name: str, *, terminal: bool) -> None:
        self.task_name = name
        self.status = "pending" if not terminal else "not_run"

    def get_status_display(self) -> str:
        return "pending" if self.status == "pending" else "not run"


def _timeline(executions, *, now, task_names: list | None = None) -> list:
    """Executions with each task's bar placed proportionally inside its execution's time span.

    The workflow's tasks (``task_names``, from the run's snapshot) that an attempt has not reached
    yet appear in its bars as pending (not run, once the attempt is over).
    """
    rows = list(executions)
    names = [n for n in (task_names or []) if isinstance(n, str)]
    for ex in rows:
        tasks = list(ex.task_executions.all())
        seen = {t.task_name for t in tasks}
        tasks += [_PendingTask(n, terminal=ex.is_terminal) for n in names if n not in seen]
        starts = [t.started_at for t in tasks if t.started_at]
        ends = [t.finished_at for t in tasks if t.finished_at]
        begin = ex.started_at or (min(starts) if starts else None)
        finish = ex.finished_at or (now if not ex.is_terminal else (max(ends) if ends else None))
        span = (finish - begin).total_seconds() if begin and finish else 0
        for t in tasks:
            t.bar_left, t.bar_width = 0.0, 0.0
            if t.started_at and begin and span > 0:
                stop = t.finished_at or finish
                t.bar_left = min(100.0, max(0.0, (t.started_at - begin).total_seconds() / span * 100))
                t.bar_width = max(0.6, min(100.0 - t.bar_left, (stop - t.started_at).total_seconds() / span * 100))
            t.duration_display = format_duration(t.finished_at - t.started_at) if t.started_at and t.finished_at else ""
        ex.tasks = tasks
        ex.duration_display = format_duration(finish - begin) if begin and finish else ""
    return rows


@login_required
@require_GET
def run_detail(request: HttpRequest, ws: str, project: str, experiment: str, number: int) -> HttpResponse:
    user = request.user
    run = selectors.run_get_by_path(user=user, ws=ws, project=project, experiment=experiment, number=number)
    try:
        events = selectors.run_event_page(run=run, **run_event_cursor_clean(request.GET))
    except ValidationError as exc:
        return HttpResponseBadRequest("; ".join(exc.messages))
    snapshot = run.workflow_snapshot or {}
    hidden = {"git_diff", "molcfg", "tasks", "files", "git_untracked", "git_untracked_count", "git_workflow_state"}
    return render(
        request,
        "runs_app/run_detail.html",
        {
            **_live_context(user=user, run=run),
            "experiment": run.experiment,
            "project": run.project,
            "workspace": run.workspace,
            "duration": format_duration(run.duration),
            "params_json": pretty_json(run.params),
            "config_json": pretty_json(run.config),
            "overrides": run.overrides or [],
            "results": sorted((run.results or {}).items()),
            "error_json": pretty_json(run.error) if run.error else "",
            "snapshot": sorted((k, v) for k, v in snapshot.items() if k not in hidden),
            "snapshot_tasks": snapshot.get("tasks") or [],
            "snapshot_diff": snapshot.get("git_diff", ""),
            "snapshot_molcfg": snapshot.get("molcfg", ""),
            "snapshot_untracked": snapshot.get("git_untracked") or [],
            "snapshot_workflow_state": snapshot.get("git_workflow_state", ""),
            "snapshot_git_dirty": snapshot.get("git_dirty"),
            "fingerprint": run.fingerprint,
            "source_diff": selectors.run_source_diff(run=run),
            "executions": _timeline(
                selectors.execution_list(run=run), now=timezone.now(), task_names=snapshot.get("tasks")
            ),
            "events": events.events,
            "events_page": events,
            "metrics": selectors.metric_latest_list(run=run),
            "clone_form": RunCloneForm(),
        },
    )


@login_required
@require_GET
def run_by_id(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.run_get(user=request.user, pk=pk)
    return redirect(run.get_absolute_url())


@login_required
@require_GET
def run_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live status fragment; 286 tells htmx to stop polling once the run is terminal.

    The page passes the status it was rendered with (``?seen=``); when the run has moved on
    since, an htmx request gets ``HX-Refresh`` so every section of the page is redrawn.
    """
    run = selectors.run_get(user=request.user, pk=pk)
    response = render_polled(
        request, "runs_app/partials/_run_status.html", _live_context(user=request.user, run=run), done=run.is_terminal
    )
    seen = request.GET.get("seen")
    if request.htmx and seen and seen != run.status:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_GET
def run_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """The execution timeline fragment (polled while the run is active; 286 once terminal)."""
    run = selectors.run_get(user=request.user, pk=pk)
    snapshot = run.workflow_snapshot or {}
    executions = _timeline(selectors.execution_list(run=run), now=timezone.now(), task_names=snapshot.get("tasks"))
    return render_polled(
        request, "runs_app/partials/_run_timeline.html", {"run": run, "executions": executions}, done=run.is_terminal
    )


@login_required
@require_GET
def run_metrics_data(request: HttpRequest, pk: int) -> JsonResponse:
    """The run's metric series for the charts: key → {total, points: [[x, y], …]} (downsampled)."""
    run = selectors.run_get(user=request.user, pk=pk)
    series = selectors.metric_series(run=run, max_points=METRIC_CHART_POINTS)
    data = {
        key: {
            "total": entry["total"],
            "points": selectors.metric_points_xy(entry["points"]),
        }
        for key, entry in series.items()
    }
    return JsonResponse({"run": run.pk, "status": run.status, "terminal": run.is_terminal, "series": data})


def _run_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Call one control service on a run, then go back to a run page; conflicts become messages.

    ``PermissionDenied`` (viewer) propagates as 403 and ``Http404`` (outsider) as 404.
    """
    user = request.user
    run = selectors.run_get(user=user, pk=pk)
    target = run.get_absolute_url()
    try:
        if action == "cancel":
            run = services.run_cancel(user=user, run=run)
            done = (
                "Cancelled."
                if run.status == RunStatus.CANCELLED
                else "Cancel requested; the run stops at its next check."
            )
            messages.success(request, f"{run.experiment.name} #{run.number}: {done}")
        elif action in ("rerun", "resume"):
            service = services.run_rerun if action == "rerun" else services.run_resume
            execution = service(user=user, run=run)
            messages.success(
                request, f"{run.experiment.name} #{run.number}: attempt {execution.number} queued ({action})."
            )
        else:
            form = RunCloneForm(request.POST)
            form.is_valid()
            clone = services.run_clone(user=user, run=run, overrides=form.cleaned_data.get("overrides") or None)
            messages.success(request, f"{run.experiment.name} #{clone.number} launched as a clone of #{run.number}.")
            target = clone.get_absolute_url()
    except (Conflict, TooManyRequests) as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    return redirect_after_post(request, target)


@login_required
@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_action(request, pk, "cancel")


@login_required
@require_POST
def run_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_action(request, pk, "rerun")


@login_required
@require_POST
def run_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_action(request, pk, "resume")


@login_required
@require_POST
def run_clone(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_action(request, pk, "clone")
