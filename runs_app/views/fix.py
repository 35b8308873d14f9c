"""From failure to fix: ``…/runs/<number>/fix/`` shows a failed run, the first later run of its
experiment that succeeded, and what differed (``selectors.run_failure_fix``, built on the one
comparison, ``selectors.run_compare``). Linked from the run's error card and from the catalog's
error-trace groups."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import selectors
from .compare import _with_display


@login_required
@require_GET
def run_fix(request: HttpRequest, ws: str, project: str, experiment: str, number: int) -> HttpResponse:
    """The failure-to-fix page; a run that did not fail is a 400 saying so, an invisible one a 404."""
    run = selectors.run_get_by_path(user=request.user, ws=ws, project=project, experiment=experiment, number=number)
    context = {"run": run, "experiment": run.experiment, "project": run.project, "workspace": run.workspace}
    try:
        found = selectors.run_failure_fix(user=request.user, run=run)
    except ValidationError as exc:
        return render(request, "runs_app/run_fix.html", {**context, "errors": exc.messages}, status=400)
    for rows in found["differences"].values():
        _with_display(rows)
    profile_rows = [found["profile"]] if found["profile"] and found["profile"]["status"] != "same" else []
    _with_display(profile_rows)
    runs = [found["failed"], found["fix"]] if found["fix"] else [found["failed"]]
    return render(request, "runs_app/run_fix.html", {**context, **found, "runs": runs, "profile_rows": profile_rows})
