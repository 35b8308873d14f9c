"""Edit pages of workspaces, projects and experiments (SPEC §14), and a run's tags and notes.

Invariants: each page calls one service (``services.editing``, ``services.run_annotate``), the
same as the API's ``PATCH``; the role is checked before the form is shown (owners for workspaces
and projects, editors for experiments and runs) and again by the service. After a rename the
redirect goes to the new URL; old URLs redirect there (``runs_app.slug_redirects``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from molexp_site.errors import Conflict

from .. import services
from ..access import experiment_get, project_get, run_get, workspace_get, workspace_require_role
from ..choices import Role
from ..forms import ExperimentEditForm, ObjectEditForm, RunNotesForm
from .common import form_add_errors, redirect_after_post


def _edit(request: HttpRequest, *, obj, kind: str, update, form: ObjectEditForm, workspace) -> HttpResponse:
    """The shared body of the three edit pages: archive/unarchive buttons, or the form."""
    if request.method == "POST":
        action = request.POST.get("action", "save")
        try:
            if action in ("archive", "unarchive"):
                update(archived=action == "archive")
                messages.success(request, f"“{obj.name}” {action}d.")
                return redirect_after_post(request, obj.get_absolute_url())
            if form.is_valid():
                data = dict(form.cleaned_data)
                if not data.get("slug") or data["slug"] == obj.slug:
                    data["slug"] = None  # unchanged: a new name derives the slug
                updated = update(**data)
                messages.success(request, f"“{updated.name}” saved.")
                return redirect_after_post(request, updated.get_absolute_url())
        except ValidationError as exc:
            form_add_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, exc.message)
    status = 400 if request.method == "POST" else 200
    context = {"obj": obj, "kind": kind, "form": form, "workspace": workspace}
    return render(request, "runs_app/object_edit.html", context, status=status)


def _initial(obj) -> dict:
    return {"name": obj.name, "slug": obj.slug, "description": obj.description}


@login_required
@require_http_methods(["GET", "POST"])
def workspace_edit(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = workspace_get(user=request.user, slug=ws)
    workspace_require_role(user=request.user, workspace=workspace, role=Role.OWNER)
    form = ObjectEditForm(request.POST or None, initial=_initial(workspace))

    def update(**fields):
        return services.workspace_update(user=request.user, workspace=workspace, **fields)

    return _edit(request, obj=workspace, kind="workspace", update=update, form=form, workspace=workspace)


@login_required
@require_http_methods(["GET", "POST"])
def project_edit(request: HttpRequest, ws: str, project: str) -> HttpResponse:
    workspace = workspace_get(user=request.user, slug=ws)
    project_obj = project_get(user=request.user, workspace=workspace, slug=project)
    workspace_require_role(user=request.user, workspace=workspace, role=Role.OWNER)
    form = ObjectEditForm(request.POST or None, initial=_initial(project_obj))

    def update(**fields):
        return services.project_update(user=request.user, project=project_obj, **fields)

    return _edit(request, obj=project_obj, kind="project", update=update, form=form, workspace=workspace)


@login_required
@require_http_methods(["GET", "POST"])
def experiment_edit(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    workspace = workspace_get(user=request.user, slug=ws)
    project_obj = project_get(user=request.user, workspace=workspace, slug=project)
    experiment_obj = experiment_get(user=request.user, project=project_obj, slug=experiment)
    workspace_require_role(user=request.user, workspace=workspace, role=Role.EDITOR)
    try:
        names = services.experiment_workflow_names(experiment=experiment_obj)
    except ValidationError:
        names = []  # the file is gone: the form still renames and archives
    initial = {**_initial(experiment_obj), "workflow_name": experiment_obj.workflow_name}
    form = ExperimentEditForm(request.POST or None, initial=initial, workflow_names=names)

    def update(**fields):
        return services.experiment_update(user=request.user, experiment=experiment_obj, **fields)

    return _edit(request, obj=experiment_obj, kind="experiment", update=update, form=form, workspace=workspace)


@login_required
@require_POST
def run_notes(request: HttpRequest, pk: int) -> HttpResponse:
    """Save a run's tags and notes from its page (editors); errors come back as a message."""
    run = run_get(user=request.user, pk=pk)
    form = RunNotesForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(" ".join(m for errors in form.errors.values() for m in errors))
        services.run_annotate(user=request.user, run=run, **form.cleaned_data)
        messages.success(request, f"{run.experiment.name} #{run.number}: tags and notes saved.")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    except Conflict as exc:
        messages.error(request, exc.message)
    return redirect_after_post(request, run.get_absolute_url())
