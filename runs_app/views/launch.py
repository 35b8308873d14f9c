"""The launch page and its live preview.

Invariants: launching needs the editor role (403 before the body is read); the preview writes
nothing and shows ``selectors.launch_preview`` (the same read as the API's launch-preview); a
refused launch is a form error (400, or 429 for the queue bound) and creates nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from molexp_site.errors import TooManyRequests

from .. import selectors, services
from ..choices import Role
from ..forms import (
    RunLaunchForm,
)
from .common import form_add_errors, pretty_json, redirect_after_post
from .experiments import workflow_entry


def _launch_context(request: HttpRequest, experiment_obj) -> tuple[RunLaunchForm, dict]:
    """The launch form bound to the request (POST) or unbound (GET), and the page context."""
    entry = workflow_entry(experiment_obj)
    profiles = (entry or {}).get("profiles", [])
    form = RunLaunchForm(request.POST or None, profiles=profiles)
    context = {
        "profiles": profiles,
        "experiment": experiment_obj,
        "project": experiment_obj.project,
        "workspace": experiment_obj.workspace,
        "form": form,
        "workflow_error": (entry or {}).get("error", "") if entry else "The workflow file was not found.",
    }
    return form, context


def _launch_kwargs(form: RunLaunchForm) -> dict:
    data = form.cleaned_data
    return {
        "profile": data["profile"],
        "overrides": data["overrides"],
        "params": data["params"],
        "sweep": data["sweep"],
    }


def _preview(request: HttpRequest, form: RunLaunchForm, experiment_obj) -> dict:
    """Validate the form, then ask ``launch_plan`` (writes nothing) what the launch would do."""
    if not form.is_valid():
        return {"preview_errors": [f"{name}: {e}" if name != "__all__" else e
                                   for name, errors in form.errors.items() for e in errors]}  # fmt: skip
    try:
        plan = services.launch_plan(experiment=experiment_obj, capture_git=False, **_launch_kwargs(form))
    except ValidationError as exc:
        form_add_errors(form, exc)
        return {"preview_errors": [f"{name}: {m}" for name, msgs in exc.message_dict.items() for m in msgs]
                if hasattr(exc, "error_dict") else exc.messages}  # fmt: skip
    preview = selectors.launch_preview(user=request.user, workspace=experiment_obj.workspace, plan=plan)
    # Per-cell work is bounded whatever the sweep (MOLEXP_LAUNCH_PREVIEW_MAX_CELLS); the count is exact.
    shown = min(5, settings.MOLEXP_LAUNCH_PREVIEW_MAX_CELLS)
    return {
        "preview": preview,
        "preview_config": pretty_json(plan.config),
        "preview_cells": [pretty_json(c) for c in plan.cells[:shown]],
    }


@login_required
@require_http_methods(["GET", "POST"])
def run_launch(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    """The launch form: GET shows it with a preview of the default profile; POST launches, then redirects."""
    user = request.user
    experiment_obj = selectors.experiment_get_by_path(user=user, ws=ws, project=project, experiment=experiment)
    selectors.workspace_require_role(user=user, workspace=experiment_obj.workspace, role=Role.EDITOR)
    form, context = _launch_context(request, experiment_obj)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                runs = services.run_launch(user=user, experiment=experiment_obj, **_launch_kwargs(form))
            except ValidationError as exc:
                form_add_errors(form, exc)
            except TooManyRequests as exc:
                form.add_error(None, exc.message)
                status = 429
            else:
                for warning in runs.warnings:
                    messages.warning(request, warning)
                if len(runs) == 1:
                    messages.success(
                        request, f"{experiment_obj.name} #{runs[0].number} launched ({runs[0].profile or 'defaults'})."
                    )
                    return redirect_after_post(request, runs[0].get_absolute_url())
                messages.success(
                    request, f"{len(runs)} runs launched ({experiment_obj.name} #{runs[0].number}–#{runs[-1].number})."
                )
                return redirect_after_post(request, experiment_obj.get_absolute_url())
        context.update(_preview(request, form, experiment_obj) if not form.errors else {})
        return render(request, "runs_app/run_launch.html", context, status=status)
    # The page opens with the preview of the default profile (also what a browser without JavaScript sees).
    initial = RunLaunchForm({"profile": form.initial.get("profile", "")}, profiles=context["profiles"])
    context.update(_preview(request, initial, experiment_obj))
    return render(request, "runs_app/run_launch.html", context)


@login_required
@require_POST
def run_launch_preview(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    """The live preview: merged config, its hash, the number of runs, and runs that already used that config.

    htmx gets the fragment; without JavaScript the "Preview" button renders the whole launch page.
    """
    user = request.user
    experiment_obj = selectors.experiment_get_by_path(user=user, ws=ws, project=project, experiment=experiment)
    selectors.workspace_require_role(user=user, workspace=experiment_obj.workspace, role=Role.EDITOR)
    form, context = _launch_context(request, experiment_obj)
    context.update(_preview(request, form, experiment_obj))
    if request.htmx:
        return render(request, "runs_app/partials/_launch_preview.html", context)
    return render(request, "runs_app/run_launch.html", context)
