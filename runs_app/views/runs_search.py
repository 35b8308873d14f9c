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
from .common import run_filtered_page, with_durations


@login_required
@require_GET
def workspace_runs(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    runs = selectors.run_list(user=request.user, filters={"workspace": workspace.pk})
    filterset = RunFilterSet(request.GET or None, queryset=runs)
    page, page_error = run_filtered_page(request, filterset)
    page.object_list = with_durations(page.object_list)
    context = {
        "workspace": workspace,
        "experiments": selectors.experiment_list(user=request.user).filter(workspace=workspace),
        "statuses": RunStatus.choices,
        "selected": {
            k: request.GET.get(k, "")
            for k in (
                "status",
                "profile",
                "config_hash",
                "fingerprint",
                "experiment",
                "param",
                "result",
                "metric",
                "sort",
            )
        },
        "filter_errors": filterset.errors if filterset.is_bound else {},
        "page": page,
        "page_error": page_error,
        "conditions": [c for c in request.GET.getlist("filter") if c],
    }
    if request.htmx:  # htmx swaps 2xx only: the fragment carries the error and no rows
        return render(request, "runs_app/partials/_workspace_run_table.html", context)
    return render(request, "runs_app/workspace_runs.html", context, status=400 if page_error else 200)
