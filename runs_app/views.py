"""Thin HTML views of runs_app: parse the request, call a selector or a service, render or redirect.

Permission decisions live in the selectors (``Http404`` for invisible rows) and
services (``PermissionDenied`` for too-low roles); htmx requests get fragments.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from molexp_site.errors import Conflict

from . import selectors, services
from .choices import ROLE_RANK, Role, RunStatus
from .filtersets import RunFilterSet
from .forms import (
    ExperimentCreateForm,
    MembershipRemoveForm,
    MembershipSetForm,
    ProjectCreateForm,
    WorkspaceCreateForm,
)

PAGE_SIZE = 25
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


def _can(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(needed)]


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
                    messages.success(request, f"{username} is no longer a member of {workspace.name}.")
                    return _redirect(request, request.path)
            else:
                remove_error = "Choose a member to remove."
        else:
            prefix = "add" if action == "add" else None
            form = MembershipSetForm(request.POST, prefix=prefix)
            if form.is_valid():
                try:
                    membership = services.membership_set(actor=user, workspace=workspace, **form.cleaned_data)
                except ValidationError as exc:
                    _add_errors(form, exc)
                except Conflict as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, f"{membership.user.username} is now {membership.role} in {workspace}.")
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
    experiment_obj = selectors.experiment_get_by_path(user=user, ws=ws, project=project, experiment=experiment)
    runs = selectors.run_list(user=user, filters={"experiment": experiment_obj.pk})
    filterset = RunFilterSet(request.GET or None, queryset=runs)
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = _with_durations(page.object_list)
    context = {
        "experiment": experiment_obj,
        "project": experiment_obj.project,
        "workspace": experiment_obj.workspace,
        "filter_form": filterset.form,
        "statuses": RunStatus.choices,
        "status": request.GET.get("status", ""),
        "page": page,
    }
    if request.htmx:
        return render(request, "runs_app/partials/_run_table.html", context)
    return render(request, "runs_app/experiment_detail.html", context)


# --- runs -----------------------------------------------------------------------------


@login_required
@require_GET
def run_detail(request: HttpRequest, ws: str, project: str, experiment: str, number: int) -> HttpResponse:
    run = selectors.run_get_by_path(user=request.user, ws=ws, project=project, experiment=experiment, number=number)
    snapshot = run.workflow_snapshot or {}
    return render(
        request,
        "runs_app/run_detail.html",
        {
            "run": run,
            "experiment": run.experiment,
            "project": run.project,
            "workspace": run.workspace,
            "duration": _format_duration(run.duration),
            "params_json": _pretty(run.params),
            "config_json": _pretty(run.config),
            "results": sorted((run.results or {}).items()),
            "error_json": _pretty(run.error) if run.error else "",
            "snapshot": sorted((k, v) for k, v in snapshot.items() if k != "git_diff"),
            "snapshot_diff": snapshot.get("git_diff", ""),
            "executions": selectors.execution_list(run=run),
            "events": selectors.run_event_list(run=run),
            "metrics": selectors.metric_latest_list(run=run),
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
    """The live status fragment; 286 tells htmx to stop polling once the run is terminal."""
    run = selectors.run_get(user=request.user, pk=pk)
    response = render(request, "runs_app/partials/_run_status.html", {"run": run})
    if run.is_terminal:
        response.status_code = HTMX_STOP_POLLING
    return response


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
