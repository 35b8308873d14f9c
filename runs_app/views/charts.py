"""Charts across runs (SPEC §15): ``/w/<ws>/p/<project>/e/<experiment>/charts/``.

The page embeds ``chart_query``'s data (the API's ``/api/runs/series/`` answers the same) with
``json_script``; ``static/js/run_charts.js`` draws it with uPlot (line chart: colour, log scale,
smoothing, x = step or wall time) and on a canvas (parallel coordinates). No inline script.
While a shown run is active, the script refetches the API every few seconds.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import selectors
from ..chart_query import chart_query
from ..choices import RunStatus

_ACTIVE = (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING)


@login_required
@require_GET
def experiment_charts(request: HttpRequest, ws: str, project: str, experiment: str) -> HttpResponse:
    experiment_obj = selectors.experiment_get_by_path(user=request.user, ws=ws, project=project, experiment=experiment)
    context = {
        "experiment": experiment_obj,
        "project": experiment_obj.project,
        "workspace": experiment_obj.workspace,
        "statuses": RunStatus.choices,
        "conditions": [c for c in request.GET.getlist("filter") if c],
        "status": request.GET.get("status", ""),
        "selected": ",".join(v for v in request.GET.getlist("runs") if v),
        "error": "",
        "data": None,
    }
    try:
        data = chart_query(user=request.user, experiment=experiment_obj, query=request.GET)
    except ValidationError as exc:
        context["error"] = " ".join(exc.messages)
        return render(request, "runs_app/experiment_charts.html", context, status=400)
    data["experiment"] = {"id": experiment_obj.pk, "name": experiment_obj.name}
    active = [r for r in data["runs"] if r["status"] in _ACTIVE]
    context.update({"data": data, "active": bool(active)})
    return render(request, "runs_app/experiment_charts.html", context)
