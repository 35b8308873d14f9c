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
from .forms import RUN_REF_RE
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
    """The runs picked by ``?runs=`` (comma-separated and/or repeated): ``(ids, numbers)``.

    The runs table sends people's spelling, ``[<ws>/][<project>/]<experiment>:<number>`` (a bare
    number after it is another run of that experiment); a bare number before any reference is a
    run id (the API's). A reference must name ``experiment``: a chart shows one experiment.
    """
    ids: list[int] = []
    numbers: list[int] = []
    current = False  # inside a reference to this experiment: bare numbers are run numbers
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            if part.isdigit() and len(part) <= 18:
                target = numbers if current else ids
            elif match := RUN_REF_RE.fullmatch(part):
                first, second, slug, number = match.groups()
                ws, project = (first, second) if second else ("", first or "")
                named = (ws or experiment.workspace.slug, project or experiment.project.slug, slug)
                if tuple(x.lower() for x in named) != (experiment.workspace.slug, experiment.project.slug,
                                                       experiment.slug):  # fmt: skip
                    raise ValidationError(f"runs: {part[:60]!r} is not a run of {experiment.name}.")
                current, target, part = True, numbers, number
            else:
                raise ValidationError(f"runs: {part[:40]!r} is not a run id nor experiment:number.")
            if int(part) not in target:
                target.append(int(part))
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
