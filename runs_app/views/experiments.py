"""Projects and experiments: create forms, the project page and the experiment page (its run list).

Invariants: the experiment page's run list is a keyset page of ``selectors.run_list`` filtered by
``RunFilterSet`` (the API's filters) at a constant number of queries; htmx gets the table alone.
Workflow topologies are inspected in a subprocess (``services.workflow_list``), never imported.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import selectors, services
from ..access import role_at_least
from ..choices import Role, RunStatus
from ..filtersets import RunFilterSet
from ..forms import (
    ExperimentCreateForm,
    ProjectCreateForm,
)
from ..task_graph import task_graph_layout
from .common import form_add_errors, redirect_after_post, run_filtered_page, with_durations


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    selectors.workspace_require_role(user=request.user, workspace=workspace, role=Role.EDITOR)
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(user=request.user, workspace=workspace, **form.cleaned_data)
        except ValidationError as exc:
            form_add_errors(form, exc)
        else:
            messages.success(request, f"Project “{project.name}” created.")
            return redirect_after_post(request, project.get_absolute_url())
    return render(request, "runs_app/project_create.html", {"workspace": workspace, "form": form})


@login_required
@require_GET
def project_detail(request: HttpRequest, ws: str, project: str) -> HttpResponse:
    user = request.user
    workspace = selectors.workspace_get(user=user, slug=ws)
    project_obj = selectors.project_get(user=user, workspace=workspace, slug=project)
    role = selectors.workspace_role(user=user, workspace=workspace)
    return render(
        request,
        "runs_app/project_detail.html",
        {
            "workspace": workspace,
            "project": project_obj,
            "can_edit": role_at_least(role, Role.EDITOR),
            "is_owner": role_at_least(role, Role.OWNER),
            "can_delete": role_at_least(role, Role.OWNER),
            "show_archived": request.GET.get("archived") == "1",
            "experiments": selectors.experiment_list(
                user=user, project=project_obj, archived=request.GET.get("archived") == "1"
            ),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def experiment_create(request: HttpRequest, ws: str, project: str) -> HttpResponse:
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    project_obj = selectors.project_get(user=request.user, workspace=workspace, slug=project)
    selectors.workspace_require_role(user=request.user, workspace=workspace, role=Role.EDITOR)
    offer_url = reverse("runs:experiment-workflow-offer", args=[workspace.slug, project_obj.slug])
    form = ExperimentCreateForm(
        request.POST or None, workflow_files=selectors.workflow_file_list(), offer_url=offer_url
    )
    if request.method == "POST" and form.is_valid():
        try:
            experiment = services.experiment_create(user=request.user, project=project_obj, **form.cleaned_data)
        except ValidationError as exc:
            form_add_errors(form, exc)
        else:
            messages.success(request, f"Experiment “{experiment.name}” created.")
            return redirect_after_post(request, experiment.get_absolute_url())
    return render(
        request,
        "runs_app/experiment_create.html",
        {"workspace": workspace, "project": project_obj, "form": form,
         **workflow_offer_context(request.POST.get("workflow_source", ""))},
    )  # fmt: skip


def workflow_offer_context(workflow_source: str) -> dict:
    """What the new-experiment form offers for the chosen file: its workflow names, or why none."""
    if not workflow_source:
        return {"offer": None}
    try:
        return {
            "offer": {"workflow_source": workflow_source, **services.workflow_names(workflow_source=workflow_source)}
        }
    except ValidationError as exc:
        return {"offer": {"workflow_source": workflow_source, "names": [], "error": " ".join(exc.messages)}}


@login_required
@require_GET
def experiment_workflow_offer(request: HttpRequest, ws: str, project: str) -> HttpResponse:
    """The htmx fragment listing the workflows of ``?workflow_source=`` (editors, like the form)."""
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    selectors.project_get(user=request.user, workspace=workspace, slug=project)
    selectors.workspace_require_role(user=request.user, workspace=workspace, role=Role.EDITOR)
    context = workflow_offer_context(request.GET.get("workflow_source", "").strip())
    code = 400 if context["offer"] and context["offer"]["error"] and not context["offer"]["names"] else 200
    return render(request, "runs_app/partials/_workflow_offer.html", context, status=code)


@login_required
@require_GET
def experiment_detail(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    user = request.user
    experiment_obj = selectors.experiment_get_by_path(
        user=user, ws=ws, project=project, experiment=experiment, with_role=True, with_table_hidden=True
    )
    context = {
        "experiment": experiment_obj,
        "project": experiment_obj.project,
        "workspace": experiment_obj.workspace,
        "statuses": RunStatus.choices,
        "status": request.GET.get("status", ""),
        **run_table_context(request, experiment_obj),
    }
    code = 400 if context["page_error"] else 200
    if request.htmx:  # htmx swaps 2xx only: the fragment carries the error and no rows
        return render(request, "runs_app/partials/_run_table.html", context)
    role = experiment_obj.role
    entry = workflow_entry(experiment_obj)
    topology = _topology(experiment_obj, entry)
    context.update(
        {
            "can_edit": role_at_least(role, Role.EDITOR),
            "can_delete": role_at_least(role, Role.OWNER),
            "workflow_error": (entry or {}).get("error", "") if entry else "The workflow file was not found.",
            "profiles": (entry or {}).get("profiles", []),
            "topology": topology,
            "graph": task_graph_layout(topology),
        }
    )
    return render(request, "runs_app/experiment_detail.html", context, status=code)


def run_table_context(request: HttpRequest, experiment) -> dict:
    """The runs table of the experiment page (SPEC §15): ``RunFilterSet`` conditions and sort, one
    page (two queries), the latest metrics of its runs (one query), varying columns and groups.

    ``experiment`` comes from ``experiment_get_by_path(with_table_hidden=True)``.
    """
    runs = selectors.run_list(user=request.user, filters={"experiment": experiment.pk}).only(
        *selectors.RUN_LIST_FIELDS, "config"
    )
    filterset = RunFilterSet(request.GET or None, queryset=runs)
    page, page_error = run_filtered_page(request, filterset)
    page.object_list = with_durations(page.object_list)
    metrics = selectors.metric_latest_by_run(run_ids=[r.pk for r in page.object_list])
    table = selectors.run_table_build(
        runs=page.object_list, metrics=metrics, hidden=getattr(experiment, "table_hidden", None) or []
    )
    selectors.run_table_texts(table, experiment_name=experiment.name)
    sort = filterset.form.cleaned_data.get("sort") if filterset.is_bound and not page_error else None
    current = sort.text if sort else ""
    for column in table.columns:
        column.sort_next = f"-{column.key}" if current == column.key else column.key
        column.sorted = current.lstrip("-") == column.key and current
    return {
        "filter_form": filterset.form,
        "page": page,
        "page_error": page_error,
        "table": table,
        "colspan": len(table.shown) + 6,
        "sort": current,
        "conditions": [c for c in request.GET.getlist("filter") if c],
    }


@login_required
@require_POST
def experiment_columns(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    """The column chooser: remember which of the offered columns the user shows (no JS needed)."""
    experiment_obj = selectors.experiment_get_by_path(user=request.user, ws=ws, project=project, experiment=experiment)
    try:
        services.run_table_columns_save(
            user=request.user,
            experiment=experiment_obj,
            offered=request.POST.getlist("offered"),
            shown=request.POST.getlist("show"),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    back = request.POST.get("next") or ""
    url = experiment_obj.get_absolute_url()
    if back.startswith("?") and len(back) < 2000:
        url += back
    return redirect_after_post(request, url)


def workflow_entry(experiment) -> dict | None:
    """The ``workflow_list()`` entry of the experiment's file (topologies come from a subprocess)."""
    for entry in services.workflow_list():
        if entry["workflow_source"] == experiment.workflow_source:
            return entry
    return None


def _topology(experiment, entry: dict | None) -> dict:
    """The experiment's stored topology, else the one inspected from its file now; {} if unknown."""
    if (experiment.topology or {}).get("tasks"):
        return experiment.topology
    workflows = (entry or {}).get("workflows", [])
    for workflow in workflows:
        if workflow.get("name") == experiment.workflow_name:
            return workflow
    return workflows[0] if len(workflows) == 1 else {}
