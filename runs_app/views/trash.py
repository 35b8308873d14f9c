"""Delete into the trash, and a workspace's trash page (SPEC §14), for pages.

``GET …/delete/`` shows a confirmation (403 for members who may not delete); ``POST`` calls
``services.object_delete`` (the API's code path) and goes to the parent page. ``/w/<ws>/trash/``
lists the trash for owners (even of a workspace in the trash) with Restore and Purge forms.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from assets_app.services import trash_delete_require
from molexp_site.errors import Conflict

from .. import selectors, services
from .common import redirect_after_post


def delete_confirm(request: HttpRequest, *, obj, kind: str, after: str) -> HttpResponse:
    """The one delete page of every kind (assets too): confirm on GET, delete on POST."""
    trash_delete_require(user=request.user, obj=obj)
    if request.method == "POST":
        services.object_delete(user=request.user, obj=obj)
        messages.success(request, f"{kind.capitalize()} '{obj}' moved to the trash.")
        return redirect_after_post(request, after)
    return render(request, "runs_app/trash_confirm.html",
                  {"obj": obj, "kind": kind, "days": settings.MOLEXP_TRASH_DAYS})  # fmt: skip


def _trash_url(workspace) -> str:
    return reverse("runs:workspace-trash", kwargs={"ws": workspace.slug})


@login_required
@require_http_methods(["GET", "POST"])
def workspace_delete(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    return delete_confirm(request, obj=workspace, kind="workspace", after=_trash_url(workspace))


@login_required
@require_http_methods(["GET", "POST"])
def project_delete(request: HttpRequest, ws: str, project: str) -> HttpResponse:
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    obj = selectors.project_get(user=request.user, workspace=workspace, slug=project)
    return delete_confirm(request, obj=obj, kind="project", after=workspace.get_absolute_url())


@login_required
@require_http_methods(["GET", "POST"])
def experiment_delete(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    project_obj = selectors.project_get(user=request.user, workspace=workspace, slug=project)
    obj = selectors.experiment_get(user=request.user, project=project_obj, slug=experiment)
    return delete_confirm(request, obj=obj, kind="experiment", after=project_obj.get_absolute_url())


@login_required
@require_http_methods(["GET", "POST"])
def run_delete(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.run_get(user=request.user, pk=pk)
    return delete_confirm(request, obj=run, kind="run", after=run.experiment.get_absolute_url())


@login_required
@require_http_methods(["GET"])
def workspace_trash(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = selectors.trash_workspace_get(user=request.user, slug=ws)
    entries = list(selectors.trash_list(workspace=workspace)[:500])
    return render(request, "runs_app/workspace_trash.html",
                  {"workspace": workspace, "entries": entries, "days": settings.MOLEXP_TRASH_DAYS})  # fmt: skip


def _entry_action(request: HttpRequest, ws: str, pk: int, action: str) -> HttpResponse:
    workspace = selectors.trash_workspace_get(user=request.user, slug=ws)
    entry = selectors.trash_entry_get(user=request.user, pk=pk)
    if entry.workspace_id != workspace.pk:
        raise Http404("No such trash entry.")
    if action == "restore":
        try:
            services.trash_restore(user=request.user, entry=entry)
            messages.success(request, f"Restored {entry.object_type} '{entry.object_repr}'.")
        except Conflict as exc:
            messages.error(request, exc.message)
    else:
        services.trash_purge(user=request.user, entry=entry)
        messages.success(request, f"Purged {entry.object_type} '{entry.object_repr}' for good.")
    if entry.object_type == "workspace" and action == "purge":
        return redirect_after_post(request, reverse("runs:dashboard"))
    return redirect_after_post(request, _trash_url(workspace))


@login_required
@require_POST
def trash_restore(request: HttpRequest, ws: str, pk: int) -> HttpResponse:
    return _entry_action(request, ws, pk, "restore")


@login_required
@require_POST
def trash_purge(request: HttpRequest, ws: str, pk: int) -> HttpResponse:
    return _entry_action(request, ws, pk, "purge")
