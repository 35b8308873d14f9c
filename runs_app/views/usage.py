"""The storage-use panel of the workspace page: ``/w/<ws>/usage/`` (SPEC §14).

The workspace page loads it with htmx (``hx-trigger="load"``); without JavaScript it is
a plain page. Any member reads it (``Http404`` for others); the numbers come from
``assets_app.selectors.storage_usage_get`` in a constant number of queries.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from assets_app import selectors as asset_selectors

from ..access import workspace_get


@login_required
@require_GET
def workspace_usage(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = workspace_get(user=request.user, slug=ws)
    usage = asset_selectors.storage_usage_get(workspace=workspace)
    quota = workspace.storage_quota_bytes
    used = usage["workspace"]["physical_bytes"]
    context = {
        "workspace": workspace,
        "usage": usage,
        "quota_percent": min(100, round(100 * used / quota)) if quota else None,
        "over_quota": quota is not None and used > quota,
    }
    return render(request, "runs_app/partials/_workspace_usage.html", context)
