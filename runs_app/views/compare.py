"""The run comparison page: ``/compare/?runs=lab/qm9/baseline:3,4`` (a shareable URL naming runs as
people do, ``forms.run_compare_parse_refs``; ids still work), the first run is the baseline.

Everything is read by ``selectors.run_compare`` (scoped; a constant number of queries);
this view only shapes cells for display and embeds the metric curves for Chart.js.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import selectors
from ..forms import run_compare_parse_refs


def _display(value: Any) -> str:
    """A cell as compact JSON (so ``"1"``, ``1`` and ``1.0`` stay distinguishable)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _with_display(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for cell in row["cells"]:
            cell["display"] = _display(cell["value"]) if cell["present"] else ""
    return rows


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [m for errors in exc.message_dict.values() for m in errors]
    return list(exc.messages)


@login_required
@require_GET
def run_compare(request: HttpRequest) -> HttpResponse:
    """Compare the runs named by ``?runs=`` (comma-separated and/or repeated, as the runs table's form sends).

    Fewer than two runs, too many, or runs of different workspaces: 400 with the reason.
    A run the user may not read: 404.
    """
    try:
        run_ids = selectors.run_refs_resolve(
            user=request.user, refs=run_compare_parse_refs(request.GET.getlist("runs"))
        )
        comparison = selectors.run_compare(user=request.user, run_ids=run_ids)
    except ValidationError as exc:
        return render(request, "runs_app/run_compare.html", {"errors": _messages(exc)}, status=400)
    runs = comparison["runs"]
    for key in ("config", "params", "git", "environment", "packages", "results", "metrics"):
        _with_display(comparison[key])
    _with_display([comparison["profile"], comparison["topology"]])
    chart = {
        "runs": [{"id": r.pk, "label": f"{r.experiment.name} #{r.number}"} for r in runs],
        "curves": comparison["curves"],
    }
    return render(
        request,
        "runs_app/run_compare.html",
        {
            **comparison,
            "profile_rows": [comparison["profile"]],
            "topology_rows": [comparison["topology"]],
            "share_query": selectors.run_compare_query(runs),
            "git_diffs": list(zip(runs, comparison["git_diffs"], strict=True)),
            "code": [
                {**entry, "run_obj": next(r for r in runs if r.pk == entry["run"])} for entry in comparison["code"]
            ],
            "chart": chart,
        },
    )
