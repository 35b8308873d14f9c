"""The upload page (SPEC §10): drag and drop, progress, pause/resume and resume after a reload.

The page only collects the target and shows progress; the bytes go straight
from the browser to the tus endpoint (``/api/uploads/``) with tus-js-client, so
this view never touches a file. Only editors and owners can open it: a user
with no such workspace gets 403; ``?workspace=<id>`` preselects one
(404 when invisible, 403 for a viewer).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from runs_app.access import experiment_list, project_list, workspace_get, workspace_require_role
from runs_app.choices import Role

from .services import upload_workspace_choices
from .services.upload_partials import upload_max_size

#: tus-js-client's chunk size: one PATCH per 8 MiB, so a resume re-sends at most that.
CHUNK_SIZE = 8 * 1024 * 1024


@login_required
@require_GET
def upload_new(request: HttpRequest) -> HttpResponse:
    user = request.user
    selected = None
    if request.GET.get("workspace"):
        selected = workspace_get(user=user, pk=request.GET["workspace"])
        workspace_require_role(user=user, workspace=selected, role=Role.EDITOR)
    workspaces = upload_workspace_choices(user=user)
    if not workspaces:
        raise PermissionDenied("Uploading needs the editor role in a workspace.")
    ids = [w.pk for w in workspaces]
    projects = project_list(user=user).filter(workspace_id__in=ids).only("id", "name", "workspace_id")
    experiments = (
        experiment_list(user=user).filter(workspace_id__in=ids).only("id", "name", "project_id", "workspace_id")
    )
    return render(
        request,
        "assets_app/upload.html",
        {
            "workspaces": workspaces,
            "selected_workspace": selected or workspaces[0],
            "projects": projects,
            "experiments": experiments,
            "chunk_size": CHUNK_SIZE,
            "max_size": upload_max_size(),
        },
    )
