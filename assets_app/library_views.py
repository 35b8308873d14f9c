"""The data library tab of the workspace, project and experiment pages (htmx fragments).

Each view finds its scope through the scoped lookups of ``runs_app.access`` (an outsider
gets 404), then lists the newest version per name of exactly that scope with
``assets_app.services.data_library_list`` (one query, however many assets). A
plain request (no htmx) gets the same table in a full page, so the tab's link
works without JavaScript.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from runs_app.access import experiment_get, project_get, role_at_least, workspace_get, workspace_role
from runs_app.choices import Role
from runs_app.models import Experiment, Project, Workspace

from .choices import AssetKind
from .services import data_library_list

#: Names a library tab lists at most; the catalog link shows the rest.
LIBRARY_TAB_LIMIT = 100


def _upload_url(*, workspace: Workspace, project: Project | None, experiment: Experiment | None) -> str:
    """The upload page for this scope, or "" while that page does not exist."""
    try:
        base = reverse("assets:upload")
    except NoReverseMatch:
        return ""
    params = {"workspace": workspace.pk}
    if project is not None:
        params["project"] = project.pk
    if experiment is not None:
        params["experiment"] = experiment.pk
    return f"{base}?{urlencode(params)}"


def _library(
    request: HttpRequest,
    *,
    workspace: Workspace,
    project: Project | None = None,
    experiment: Experiment | None = None,
    self_url: str,
) -> HttpResponse:
    role = workspace_role(user=request.user, workspace=workspace)
    can_upload = role_at_least(role, Role.EDITOR)
    rows = list(data_library_list(workspace=workspace, project=project, experiment=experiment)[: LIBRARY_TAB_LIMIT + 1])
    scope_filter = {"workspace": workspace.pk, "kind": AssetKind.DATA}
    if experiment is not None:
        scope_filter.update(experiment=experiment.pk, scope="experiment")
    elif project is not None:
        scope_filter.update(project=project.pk, scope="project")
    else:
        scope_filter["scope"] = "workspace"
    context = {
        "workspace": workspace,
        "project": project,
        "experiment": experiment,
        "assets": rows[:LIBRARY_TAB_LIMIT],
        "truncated": len(rows) > LIBRARY_TAB_LIMIT,
        "catalog_url": f"{reverse('assets:asset-list')}?{urlencode(scope_filter)}",
        "upload_url": _upload_url(workspace=workspace, project=project, experiment=experiment) if can_upload else "",
        "self_url": self_url,
    }
    template = "assets_app/partials/_library.html" if request.htmx else "assets_app/partials/_library_page.html"
    return render(request, template, context)


@login_required
@require_GET
def library_workspace(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = workspace_get(user=request.user, slug=ws)
    return _library(request, workspace=workspace, self_url=request.path)


@login_required
@require_GET
def library_project(request: HttpRequest, ws: str, project: str) -> HttpResponse:
    workspace = workspace_get(user=request.user, slug=ws)
    project_obj = project_get(user=request.user, workspace=workspace, slug=project)
    return _library(request, workspace=workspace, project=project_obj, self_url=request.path)


@login_required
@require_GET
def library_experiment(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    workspace = workspace_get(user=request.user, slug=ws)
    project_obj = project_get(user=request.user, workspace=workspace, slug=project)
    experiment_obj = experiment_get(user=request.user, project=project_obj, slug=experiment)
    return _library(request, workspace=workspace, project=project_obj, experiment=experiment_obj, self_url=request.path)
