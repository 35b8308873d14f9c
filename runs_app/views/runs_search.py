"""The workspace's runs, searchable by status, profile, experiment, config hash (prefix) and by
parameter, result and last-metric conditions (``optimizer.lr>=1e-3``, see ``RunFilterSet``).

"Runs with the same configuration anywhere in the workspace" is this page with
``?config_hash=<hash>``; the API equivalent is ``/api/runs/?workspace=&config_hash=``.
Keyset pages (``?cursor=``) like every run list: "Older"/"Newer" stay put while runs arrive.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import selectors
from ..choices import RunStatus
from ..filtersets import RunFilterSet
from .common import run_page, with_durations


@login_required
@require_GET
def workspace_runs(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    runs = selectors.run_list(user=request.user, filters={"workspace": workspace.pk})
    filterset = RunFilterSet(request.GET or None, queryset=runs)
    page, page_error = run_page(request, filterset.qs)
    page.object_list = with_durations(page.object_list)
    context = {
        "workspace": workspace,
        "experiments": selectors.experiment_list(user=request.user).filter(workspace=workspace),
        "statuses": RunStatus.choices,
        "selected": {
            k: request.GET.get(k, "")
            for k in ("status", "profile", "config_hash", "fingerprint", "experiment", "param", "result", "metric")
        },
        "filter_errors": filterset.errors if filterset.is_bound else {},
        "page": page,
        "page_error": page_error,
    }
    template = "runs_app/partials/_workspace_run_table.html" if request.htmx else "runs_app/workspace_runs.html"
    return render(request, template, context, status=400 if page_error else 200)
