"""Reproduce and verify on the run page: the Reproduce button, the verdict panel, "Same configuration",
and the "How to reproduce" panel (issue 7 items 1, 3 and 5).

The run page includes ``partials/_run_reproduce.html`` and ``partials/_run_how_to.html``;
both load their content from the fragment views here (htmx), so the page view stays as it is.
The reproduce panel polls while a verdict is pending and gets 286 (stop) once there is none left.
"""

from __future__ import annotations

import shlex
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from molexp_site.errors import Conflict, TooManyRequests
from molexp_site.htmx import render_polled

from .. import selectors, services
from ..policy import run_actions
from ..services.reproduce import KEY_PACKAGES
from .common import redirect_after_post

#: Runs with the same configuration the panel lists at most.
SAME_CONFIG_LIMIT = 50


@login_required
@require_POST
def run_reproduce(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a reproduction of a finished run, then show the reproduction's page (it polls for the verdict)."""
    run = selectors.run_get(user=request.user, pk=pk)
    try:
        copy = services.run_reproduce(user=request.user, run=run)
    except (Conflict, TooManyRequests) as exc:
        messages.error(request, exc.message)
        return redirect_after_post(request, run.get_absolute_url())
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect_after_post(request, run.get_absolute_url())
    messages.success(
        request, f"{run.experiment.name} #{copy.number} reproduces #{run.number}; the verdict follows when it ends."
    )
    return redirect_after_post(request, copy.get_absolute_url())


def _reproduce_context(*, user, run) -> dict[str, Any]:
    verdict = services.reproduction_verdict_get(run=run) if run.reproduction_of_id else None
    reproductions = list(selectors.run_list_reproductions(user=user, run=run)[:20])
    same_config = selectors.run_list_same_config(user=user, run=run)
    same_rows = list(same_config[:SAME_CONFIG_LIMIT])
    original = None
    if run.reproduction_of_id:
        original = selectors.run_list(user=user).filter(pk=run.reproduction_of_id).first()
    pending = (bool(run.reproduction_of_id) and verdict is None) or any(r.verdict is None for r in reproductions)
    return {
        "run": run,
        "panel": True,
        "can_reproduce": run_actions(
            run=run, role=selectors.workspace_role(user=user, workspace=run.workspace)
        ).can_reproduce,
        "verdict": verdict,
        "original": original,
        "reproductions": reproductions,
        "same_config": same_rows,
        "same_config_more": len(same_rows) == SAME_CONFIG_LIMIT,
        "pending": pending,
    }


@login_required
@require_GET
def run_reproduce_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The reproducibility fragment: verdict (for a reproduction), reproductions, same configuration.

    Polled every 2 s while a verdict is pending; 286 stops the polling once none is.
    """
    run = selectors.run_get(user=request.user, pk=pk)
    context = _reproduce_context(user=request.user, run=run)
    return render_polled(request, "runs_app/partials/_run_reproduce.html", context, done=not context["pending"])


def _cli_value(value: Any) -> str:
    """A param value as ``manage.py launch --param`` coerces it back (bool, int, float, else string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    import json

    return json.dumps(value, sort_keys=True)


def _how_to_context(*, user, run) -> dict[str, Any]:
    from assets_app.selectors import asset_use_list_for_run  # runs_app reads assets through assets_app

    snapshot = run.workflow_snapshot or {}
    path = f"{run.workspace.slug}/{run.project.slug}/{run.experiment.slug}"
    argv = ["python", "manage.py", "launch", path]
    if run.profile:
        argv += ["--profile", run.profile]
    for item in run.overrides or []:
        argv += ["--override", item]
    for key, value in sorted((run.params or {}).items()):
        argv += ["--param", f"{key}={_cli_value(value)}"]
    execution = selectors.execution_latest(run=run)
    environment = dict(execution.environment or {}) if execution is not None else {}
    packages = environment.get("packages") or {}
    lowered = {name.lower(): (name, version) for name, version in packages.items()}
    key_packages = [lowered[name.lower()] for name in KEY_PACKAGES if name.lower() in lowered]
    inputs, seen = [], set()
    for use in asset_use_list_for_run(run=run):
        if use.asset.pk not in seen:
            seen.add(use.asset.pk)
            inputs.append(use)
    return {
        "run": run,
        "panel": True,
        "launch_command": shlex.join(argv),
        "reproduce_command": shlex.join(["python", "manage.py", "reproduce", f"{path}#{run.number}", "--wait"]),
        # A workflow file in no commit cannot be checked out: no advice that cannot work.
        "checkout_command": shlex.join(["git", "checkout", snapshot["git_commit"]])
        if snapshot.get("git_commit") and snapshot.get("git_workflow_state") != "untracked"
        else "",
        "git_commit": snapshot.get("git_commit", ""),
        "git_branch": snapshot.get("git_branch", ""),
        "git_dirty": snapshot.get("git_dirty"),
        "git_diff": snapshot.get("git_diff", ""),
        "git_workflow_state": snapshot.get("git_workflow_state", ""),
        "git_untracked": snapshot.get("git_untracked") or [],
        "source_sha256": snapshot.get("source_sha256", ""),
        "workflow_source": snapshot.get("workflow_source", "") or run.experiment.workflow_source,
        "environment": environment,
        "key_packages": key_packages,
        "all_packages": sorted(packages.items(), key=lambda kv: kv[0].lower()),
        "inputs": inputs,
    }


@login_required
@require_GET
def run_how_to(request: HttpRequest, pk: int) -> HttpResponse:
    """The "How to reproduce" fragment: commands, git state, environment and inputs with SHA-256."""
    run = selectors.run_get(user=request.user, pk=pk)
    return render(request, "runs_app/partials/_run_how_to.html", _how_to_context(user=request.user, run=run))
