"""Thin HTML views of runs_app: parse the request, call a selector or a service, render or redirect.

Permission decisions live in the selectors (``Http404`` for invisible rows) and
services (``PermissionDenied`` for too-low roles); htmx requests get fragments.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from molexp_site.errors import Conflict, TooManyRequests
from molexp_site.keyset import KeysetPage, PageTooDeep, keyset_page

from .. import selectors, services
from ..access import role_at_least as _can  # the one role comparison (runs_app.access)
from ..choices import ExecutionStatus, Role, RunStatus
from ..filtersets import RunFilterSet
from ..forms import (
    ExperimentCreateForm,
    MembershipRemoveForm,
    MembershipSetForm,
    ProjectCreateForm,
    RunCloneForm,
    RunLaunchForm,
    WorkspaceCreateForm,
)
from ..models import Invitation
from ..policy import run_actions

PAGE_SIZE = 25
#: Runs with the same config hash that the launch preview lists.
PREVIEW_EXISTING = 10
#: Points per metric key the run page's charts get at most.
METRIC_CHART_POINTS = 500
#: htmx "stop polling" status code.
HTMX_STOP_POLLING = 286


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """POST-then-redirect that also works for htmx-boosted forms."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _add_errors(form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form (field errors where the field exists)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _format_duration(value: timedelta | None) -> str:
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{value.total_seconds():.1f} s"


def run_page(request: HttpRequest, runs) -> tuple[KeysetPage, str | None]:
    """One keyset page of a run list (``?cursor=``, or ``?page=N`` for shallow pages) and an error.

    A bad cursor or too deep a page number gives the first page and a message (the view answers
    400), never a 500. Two queries: the rows and the capped count.
    """
    cursor = request.GET.get("cursor") or None
    raw = request.GET.get("page") or "1"
    number = int(raw) if raw.isdigit() and len(raw) <= 6 and int(raw) >= 1 else 1
    try:
        page = keyset_page(runs, ordering=selectors.RUN_LIST_ORDERING, page_size=PAGE_SIZE, cursor=cursor, page=number)
        return page, None
    except ValidationError as exc:
        error = " ".join(m for messages in exc.message_dict.values() for m in messages)
    except PageTooDeep as exc:
        error = str(exc)
    return keyset_page(runs, ordering=selectors.RUN_LIST_ORDERING, page_size=PAGE_SIZE), error


def _with_durations(runs) -> list:
    rows = list(runs)
    for row in rows:
        row.duration_display = _format_duration(row.duration)
    return rows


# --- dashboard and workspaces ---------------------------------------------------------


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "runs_app/dashboard.html",
        {
            "workspaces": selectors.workspace_list(user=user),
            "running": _with_durations(selectors.dashboard_running(user=user)),
            "failures": _with_durations(selectors.dashboard_recent_failures(user=user)),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def workspace_create(request: HttpRequest) -> HttpResponse:
    form = WorkspaceCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Workspace “{workspace.name}” created; you are its owner.")
            return _redirect(request, workspace.get_absolute_url())
    return render(request, "runs_app/workspace_create.html", {"form": form})


@login_required
@require_GET
def workspace_detail(request: HttpRequest, ws: str) -> HttpResponse:
    user = request.user
    workspace = selectors.workspace_get(user=user, slug=ws)
    role = selectors.workspace_role(user=user, workspace=workspace)
    members = list(selectors.membership_list(user=user, workspace=workspace))
    recent = selectors.run_list(user=user, filters={"workspace": workspace.pk})[:10]
    return render(
        request,
        "runs_app/workspace_detail.html",
        {
            "workspace": workspace,
            "role": role,
            "can_edit": _can(role, Role.EDITOR),
            "projects": selectors.project_list(user=user, workspace=workspace),
            "members": members,
            "recent_runs": _with_durations(recent),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def workspace_members(request: HttpRequest, ws: str) -> HttpResponse:
    user = request.user
    workspace = selectors.workspace_get(user=user, slug=ws)
    role = selectors.workspace_role(user=user, workspace=workspace)
    set_form = MembershipSetForm(prefix="add")
    remove_error = None
    if request.method == "POST":
        # Only owners change members; the service checks again, this answers 403 before parsing.
        selectors.workspace_require_role(user=user, workspace=workspace, role=Role.OWNER)
        action = request.POST.get("action")
        if action == "remove":
            form = MembershipRemoveForm(request.POST)
            if form.is_valid():
                username = form.cleaned_data["username"]
                try:
                    services.membership_remove(actor=user, workspace=workspace, username=username)
                except (ValidationError, Conflict) as exc:
                    remove_error = exc.message if isinstance(exc, Conflict) else " ".join(exc.messages)
                else:
                    messages.success(request, f"{username} is no longer a member of (or invited to) {workspace.name}.")
                    return _redirect(request, request.path)
            else:
                remove_error = "Choose a member to remove."
        else:
            prefix = "add" if action == "add" else None
            form = MembershipSetForm(request.POST, prefix=prefix)
            if form.is_valid():
                try:
                    result = services.membership_set(actor=user, workspace=workspace, **form.cleaned_data)
                except ValidationError as exc:
                    _add_errors(form, exc)
                except Conflict as exc:
                    form.add_error(None, exc.message)
                else:
                    if isinstance(result, Invitation):
                        # The same answer whether or not such an account exists (no username enumeration).
                        messages.success(
                            request,
                            f"Invited {result.username} as {result.role}: they become a member when they accept.",
                        )
                    else:
                        messages.success(request, f"{result.user.username} is now {result.role} in {workspace}.")
                    return _redirect(request, request.path)
            if prefix == "add":
                set_form = form
            else:
                remove_error = " ".join(str(e) for errors in form.errors.values() for e in errors)
    return render(
        request,
        "runs_app/workspace_members.html",
        {
            "workspace": workspace,
            "role": role,
            "is_owner": _can(role, Role.OWNER),
            "members": selectors.membership_list(user=user, workspace=workspace),
            "invitations": selectors.invitation_list(user=user, workspace=workspace),
            "set_form": set_form,
            "row_error": remove_error,
            "roles": Role.choices,
        },
        status=400 if remove_error or set_form.errors else 200,
    )


# --- projects and experiments ---------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    selectors.workspace_require_role(user=request.user, workspace=workspace, role=Role.EDITOR)
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(user=request.user, workspace=workspace, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Project “{project.name}” created.")
            return _redirect(request, project.get_absolute_url())
    return render(request, "runs_app/project_create.html", {"workspace": workspace, "form": form})


@login_required
@require_GET
def project_detail(request: HttpRequest, ws: str, project: str) -> HttpResponse:
    user = request.user
    workspace = selectors.workspace_get(user=user, slug=ws)
    project_obj = selectors.project_get(user=user, workspace=workspace, slug=project)
    role = selectors.workspace_role(user=user, workspace=workspace)
    return render(
        request,
        "runs_app/project_detail.html",
        {
            "workspace": workspace,
            "project": project_obj,
            "can_edit": _can(role, Role.EDITOR),
            "experiments": selectors.experiment_list(user=user, project=project_obj),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def experiment_create(request: HttpRequest, ws: str, project: str) -> HttpResponse:
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    project_obj = selectors.project_get(user=request.user, workspace=workspace, slug=project)
    selectors.workspace_require_role(user=request.user, workspace=workspace, role=Role.EDITOR)
    form = ExperimentCreateForm(request.POST or None, workflow_files=selectors.workflow_file_list())
    if request.method == "POST" and form.is_valid():
        try:
            experiment = services.experiment_create(user=request.user, project=project_obj, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Experiment “{experiment.name}” created.")
            return _redirect(request, experiment.get_absolute_url())
    return render(
        request,
        "runs_app/experiment_create.html",
        {"workspace": workspace, "project": project_obj, "form": form},
    )


@login_required
@require_GET
def experiment_detail(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    user = request.user
    experiment_obj = selectors.experiment_get_by_path(
        user=user, ws=ws, project=project, experiment=experiment, with_role=True
    )
    runs = selectors.run_list(user=user, filters={"experiment": experiment_obj.pk})
    filterset = RunFilterSet(request.GET or None, queryset=runs)
    page, page_error = run_page(request, filterset.qs)
    page.object_list = _with_durations(page.object_list)
    metrics = selectors.metric_latest_by_run(run_ids=[r.pk for r in page.object_list])
    for row in page.object_list:
        row.last_metrics = metrics.get(row.pk, [])
    context = {
        "experiment": experiment_obj,
        "project": experiment_obj.project,
        "workspace": experiment_obj.workspace,
        "filter_form": filterset.form,
        "statuses": RunStatus.choices,
        "status": request.GET.get("status", ""),
        "page": page,
        "page_error": page_error,
    }
    code = 400 if page_error else 200
    if request.htmx:
        return render(request, "runs_app/partials/_run_table.html", context, status=code)
    role = experiment_obj.role
    entry = _workflow_entry(experiment_obj)
    topology = _topology(experiment_obj, entry)
    context.update(
        {
            "can_edit": _can(role, Role.EDITOR),
            "workflow_error": (entry or {}).get("error", "") if entry else "The workflow file was not found.",
            "profiles": (entry or {}).get("profiles", []),
            "topology": topology,
            "graph": _mermaid(topology),
        }
    )
    return render(request, "runs_app/experiment_detail.html", context, status=code)


def _workflow_entry(experiment) -> dict | None:
    """The ``workflow_list()`` entry of the experiment's file (topologies come from a subprocess)."""
    for entry in services.workflow_list():
        if entry["workflow_source"] == experiment.workflow_source:
            return entry
    return None


def _topology(experiment, entry: dict | None) -> dict:
    """The experiment's stored topology, else the one inspected from its file now; {} if unknown."""
    if (experiment.topology or {}).get("tasks"):
        return experiment.topology
    workflows = (entry or {}).get("workflows", [])
    for workflow in workflows:
        if workflow.get("name") == experiment.workflow_name:
            return workflow
    return workflows[0] if len(workflows) == 1 else {}


_MERMAID_UNSAFE = re.compile(r"[\x00-\x1f\x7f\"'`\[\]{}()<>|;#&%]")


def _mermaid(topology: dict) -> str:
    """A mermaid flowchart of the task graph (node ids are generated; names are quoted labels)."""
    # An imported experiment's topology came from a crate: keep well-formed tasks only, and no
    # character in a label that could end it or start another mermaid statement.
    tasks = [t for t in (topology.get("tasks") or []) if isinstance(t, dict) and isinstance(t.get("name"), str)]
    if not tasks:
        return ""
    ids = {task["name"]: f"t{i}" for i, task in enumerate(tasks)}
    lines = ["flowchart LR"]
    for task in tasks:
        label = _MERMAID_UNSAFE.sub(" ", task["name"])
        if task.get("map_over"):
            label += f" ⟮map over {_MERMAID_UNSAFE.sub(' ', str(task['map_over']))}⟯"
        lines.append(f'  {ids[task["name"]]}["{label}"]')
    for task in tasks:
        for dep in task.get("depends_on") if isinstance(task.get("depends_on"), list) else []:
            if isinstance(dep, str) and dep in ids:
                lines.append(f"  {ids[dep]} --> {ids[task['name']]}")
    return "\n".join(lines)


# --- launching ------------------------------------------------------------------------


def _launch_context(request: HttpRequest, experiment_obj) -> tuple[RunLaunchForm, dict]:
    """The launch form bound to the request (POST) or unbound (GET), and the page context."""
    entry = _workflow_entry(experiment_obj)
    profiles = (entry or {}).get("profiles", [])
    form = RunLaunchForm(request.POST or None, profiles=profiles)
    context = {
        "profiles": profiles,
        "experiment": experiment_obj,
        "project": experiment_obj.project,
        "workspace": experiment_obj.workspace,
        "form": form,
        "workflow_error": (entry or {}).get("error", "") if entry else "The workflow file was not found.",
    }
    return form, context


def _launch_kwargs(form: RunLaunchForm) -> dict:
    data = form.cleaned_data
    return {
        "profile": data["profile"],
        "overrides": data["overrides"],
        "params": data["params"],
        "sweep": data["sweep"],
    }


def _preview(request: HttpRequest, form: RunLaunchForm, experiment_obj) -> dict:
    """Validate the form, then ask ``launch_plan`` (writes nothing) what the launch would do."""
    if not form.is_valid():
        return {"preview_errors": [f"{name}: {e}" if name != "__all__" else e
                                   for name, errors in form.errors.items() for e in errors]}  # fmt: skip
    try:
        plan = services.launch_plan(experiment=experiment_obj, capture_git=False, **_launch_kwargs(form))
    except ValidationError as exc:
        _add_errors(form, exc)
        return {"preview_errors": [f"{name}: {m}" for name, msgs in exc.message_dict.items() for m in msgs]
                if hasattr(exc, "error_dict") else exc.messages}  # fmt: skip
    same = selectors.run_list(
        user=request.user, filters={"workspace": experiment_obj.workspace_id, "config_hash": plan.config_hash}
    )
    existing = list(same[:PREVIEW_EXISTING])
    # Per-cell work is bounded whatever the sweep (MOLEXP_LAUNCH_PREVIEW_MAX_CELLS); the count is exact.
    shown = min(5, settings.MOLEXP_LAUNCH_PREVIEW_MAX_CELLS)
    cells = selectors.launch_preview_cells(user=request.user, workspace=experiment_obj.workspace, plan=plan)
    return {
        "preview_fingerprints": cells,
        "plan": plan,
        "preview_config": _pretty(plan.config),
        "preview_runs": len(plan.cells),
        "preview_cells": [_pretty(c) for c in plan.cells[:shown]],
        "existing_runs": existing,
        "existing_more": same.count() - len(existing) if len(existing) == PREVIEW_EXISTING else 0,
    }


@login_required
@require_http_methods(["GET", "POST"])
def run_launch(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    """The launch form: GET shows it with a preview of the default profile; POST launches, then redirects."""
    user = request.user
    experiment_obj = selectors.experiment_get_by_path(user=user, ws=ws, project=project, experiment=experiment)
    selectors.workspace_require_role(user=user, workspace=experiment_obj.workspace, role=Role.EDITOR)
    form, context = _launch_context(request, experiment_obj)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                runs = services.run_launch(user=user, experiment=experiment_obj, **_launch_kwargs(form))
            except ValidationError as exc:
                _add_errors(form, exc)
            except TooManyRequests as exc:
                form.add_error(None, exc.message)
                status = 429
            else:
                if len(runs) == 1:
                    messages.success(request, f"Run {runs[0].number} launched ({runs[0].profile or 'defaults'}).")
                    return _redirect(request, runs[0].get_absolute_url())
                messages.success(request, f"{len(runs)} runs launched (runs {runs[0].number}–{runs[-1].number}).")
                return _redirect(request, experiment_obj.get_absolute_url())
        context.update(_preview(request, form, experiment_obj) if not form.errors else {})
        return render(request, "runs_app/run_launch.html", context, status=status)
    # The page opens with the preview of the default profile (also what a browser without JavaScript sees).
    initial = RunLaunchForm({"profile": form.initial.get("profile", "")}, profiles=context["profiles"])
    context.update(_preview(request, initial, experiment_obj))
    return render(request, "runs_app/run_launch.html", context)


@login_required
@require_POST
def run_launch_preview(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    """The live preview: merged config, its hash, the number of runs, and runs that already used that config.

    htmx gets the fragment; without JavaScript the "Preview" button renders the whole launch page.
    """
    user = request.user
    experiment_obj = selectors.experiment_get_by_path(user=user, ws=ws, project=project, experiment=experiment)
    selectors.workspace_require_role(user=user, workspace=experiment_obj.workspace, role=Role.EDITOR)
    form, context = _launch_context(request, experiment_obj)
    context.update(_preview(request, form, experiment_obj))
    if request.htmx:
        return render(request, "runs_app/partials/_launch_preview.html", context)
    return render(request, "runs_app/run_launch.html", context)


# --- runs -----------------------------------------------------------------------------


def _live_context(*, user, run) -> dict:
    """What the live status fragment shows: queue position, worker, heartbeat age, allowed actions."""
    execution = selectors.execution_latest(run=run)
    queue_position = None
    if run.status == RunStatus.QUEUED and execution is not None and execution.status == ExecutionStatus.QUEUED:
        queue_position = selectors.execution_queue_position(execution=execution)
    heartbeat_age = None
    if execution is not None and execution.heartbeat_at and not execution.is_terminal:
        heartbeat_age = max(0, int((timezone.now() - execution.heartbeat_at).total_seconds()))
    actions = run_actions(run=run, role=selectors.workspace_role(user=user, workspace=run.workspace))
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
    }


def _timeline(executions, *, now) -> list:
    """Executions with each task's bar placed proportionally inside its execution's time span."""
    rows = list(executions)
    for ex in rows:
        tasks = list(ex.task_executions.all())
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
            t.duration_display = (
                _format_duration(t.finished_at - t.started_at) if t.started_at and t.finished_at else ""
            )
        ex.tasks = tasks
        ex.duration_display = _format_duration(finish - begin) if begin and finish else ""
    return rows


@login_required
@require_GET
def run_detail(request: HttpRequest, ws: str, project: str, experiment: str, number: int) -> HttpResponse:
    user = request.user
    run = selectors.run_get_by_path(user=user, ws=ws, project=project, experiment=experiment, number=number)
    try:
        events = selectors.run_event_page_for_query(run=run, query=request.GET)
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
            "duration": _format_duration(run.duration),
            "params_json": _pretty(run.params),
            "config_json": _pretty(run.config),
            "overrides": run.overrides or [],
            "results": sorted((run.results or {}).items()),
            "error_json": _pretty(run.error) if run.error else "",
            "snapshot": sorted((k, v) for k, v in snapshot.items() if k not in hidden),
            "snapshot_tasks": snapshot.get("tasks") or [],
            "snapshot_diff": snapshot.get("git_diff", ""),
            "snapshot_molcfg": snapshot.get("molcfg", ""),
            "snapshot_untracked": snapshot.get("git_untracked") or [],
            "snapshot_workflow_state": snapshot.get("git_workflow_state", ""),
            "snapshot_git_dirty": snapshot.get("git_dirty"),
            "fingerprint": run.fingerprint,
            "source_diff": selectors.run_source_diff(run=run),
            "executions": _timeline(selectors.execution_list(run=run), now=timezone.now()),
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
    response = render(request, "runs_app/partials/_run_status.html", _live_context(user=request.user, run=run))
    seen = request.GET.get("seen")
    if request.htmx and seen and seen != run.status:
        response["HX-Refresh"] = "true"
    if run.is_terminal:
        response.status_code = HTMX_STOP_POLLING
    return response


@login_required
@require_GET
def run_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """The execution timeline fragment (polled while the run is active; 286 once terminal)."""
    run = selectors.run_get(user=request.user, pk=pk)
    response = render(
        request,
        "runs_app/partials/_run_timeline.html",
        {"run": run, "executions": _timeline(selectors.execution_list(run=run), now=timezone.now())},
    )
    if run.is_terminal:
        response.status_code = HTMX_STOP_POLLING
    return response


@login_required
@require_GET
def run_metrics_data(request: HttpRequest, pk: int) -> JsonResponse:
    """The run's metric series for the charts: key → {total, points: [[x, y], …]} (downsampled)."""
    run = selectors.run_get(user=request.user, pk=pk)
    series = selectors.metric_series(run=run, max_points=METRIC_CHART_POINTS)
    data = {
        key: {
            "total": entry["total"],
            "points": [[p.step if p.step is not None else i, p.value] for i, p in enumerate(entry["points"])],
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
            messages.success(request, f"Run {run.number}: {done}")
        elif action in ("rerun", "resume"):
            service = services.run_rerun if action == "rerun" else services.run_resume
            execution = service(user=user, run=run)
            messages.success(request, f"Run {run.number}: attempt {execution.number} queued ({action}).")
        else:
            form = RunCloneForm(request.POST)
            form.is_valid()
            clone = services.run_clone(user=user, run=run, overrides=form.cleaned_data.get("overrides") or None)
            messages.success(request, f"Run {clone.number} launched as a clone of run {run.number}.")
            target = clone.get_absolute_url()
    except (Conflict, TooManyRequests) as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    return _redirect(request, target)


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


# --- account ----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    """Show whether the user has an API token; POST replaces it and shows the new key this once."""
    new_key = None
    if request.method == "POST":
        token = services.token_regenerate(user=request.user)
        new_key = token.key
    else:
        token = selectors.api_token_get(user=request.user)
    return render(
        request,
        "runs_app/api_token.html",
        {"token": token, "new_key": new_key, "api_docs_url": reverse("api-docs")},
    )
