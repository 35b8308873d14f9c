"""The query of a chart across runs (SPEC §15), parsed once for the page and the API.

``chart_query(user=, experiment=, query=)`` is the one code path: the query string is validated by
``ChartQueryForm`` (``key``, ``x``, ``max_points``, ``runs``, the client-side ``color``/``log``/
``smooth``) and ``RunFilterSet`` (``status``, ``filter=`` run conditions, …) applied to the runs of
``experiment`` the user may read; then ``selectors.chart_runs`` and ``selectors.chart_data``.

Invariants: a malformed query raises ``ValidationError`` (the API's 400, the page's error with no
chart) and reads no metric; the runs are always those of ``run_list`` (scoped to the user).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from . import selectors
from .filtersets import RunFilterSet
from .forms import run_refs_parse
from .selectors.charts import CHART_DEFAULT_POINTS, CHART_MAX_RUNS, CHART_POINTS_LIMIT

#: Query parameters of the chart itself (the rest are ``RunFilterSet``'s).
CHART_PARAMS = ("key", "x", "max_points", "runs", "color", "log", "smooth", "target")


class ChartQueryForm(forms.Form):
    key = forms.CharField(max_length=200, required=False, strip=True)
    x = forms.ChoiceField(choices=[("step", "step"), ("time", "wall time")], required=False)
    max_points = forms.IntegerField(min_value=2, max_value=CHART_POINTS_LIMIT, required=False)
    color = forms.CharField(max_length=300, required=False)
    target = forms.CharField(max_length=300, required=False)
    log = forms.BooleanField(required=False)
    smooth = forms.FloatField(min_value=0, max_value=0.99, required=False)

    def clean_x(self) -> str:
        return self.cleaned_data.get("x") or "step"


def chart_run_refs(values: list[str], *, experiment) -> tuple[list[int], list[int]]:
    """The runs picked by ``?runs=`` (``forms.run_refs_parse``, as compare): ``(ids, numbers)``.

    A reference by name must name ``experiment`` (a chart shows one experiment); a workspace or
    project left out of the reference is this experiment's.
    """
    ids: list[int] = []
    numbers: list[int] = []
    here = (experiment.workspace.slug, experiment.project.slug, experiment.slug)
    for ref in run_refs_parse(values):
        if isinstance(ref, int):
            ids.append(ref)
            continue
        (ws, project, slug), number = ref
        if (ws or here[0], project or here[1], slug) != tuple(x.lower() for x in here):
            raise ValidationError(f"runs: {'/'.join(p for p in (ws, project, slug) if p)}:{number} "
                                  f"is not a run of {experiment.name}.")  # fmt: skip
        numbers.append(number)
    if len(ids) + len(numbers) > CHART_MAX_RUNS:
        raise ValidationError(f"runs: at most {CHART_MAX_RUNS} runs in one chart.")
    return ids, numbers


def _errors(form) -> str:
    return " ".join(
        (f"{name}: " if name != "__all__" else "") + " ".join(errors) for name, errors in form.errors.items()
    )


def chart_query(*, user, experiment, query) -> dict[str, Any]:
    """The chart data of ``experiment`` for ``query`` (a QueryDict), plus the parsed options."""
    form = ChartQueryForm(query)
    if not form.is_valid():
        raise ValidationError(_errors(form))
    run_ids, run_numbers = chart_run_refs(query.getlist("runs"), experiment=experiment)
    runs = selectors.run_list(user=user, filters={"experiment": experiment.pk}).only(
        *selectors.RUN_LIST_FIELDS, "config"
    )
    filters = query.copy()
    for name in CHART_PARAMS:
        filters.pop(name, None)
    filterset = RunFilterSet(filters, queryset=runs)
    if not filterset.is_valid():
        raise ValidationError(_errors(filterset.form))
    shown, truncated = selectors.chart_runs(filterset.qs, run_ids=run_ids, run_numbers=run_numbers)
    options = form.cleaned_data
    data = selectors.chart_data(
        runs=shown,
        key=options["key"],
        truncated=truncated,
        max_points=options["max_points"] or CHART_DEFAULT_POINTS,
    )
    data["x"] = options["x"]
    data["options"] = {
        "color": options["color"],
        "target": options["target"],
        "log": bool(options["log"]),
        "smooth": options["smooth"] or 0,
    }
    return data
