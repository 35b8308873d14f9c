"""The experiment page's runs table (SPEC §15): which columns vary among the runs shown, their
cells formatted for reading, the "same for all" line and the sweep groups.

Invariants:
- Works on rows already read (a page of ``run_list`` with ``config``, and ``metric_latest_by_run``
  of the same page): no query here except ``run_table_hidden_get``'s one.
- A column is ``<source>.<dotted key>`` (``config.optimizer.lr``, ``params.seed``,
  ``results.acc``, ``metrics.loss``), the spelling of the run conditions and of ``?sort=``.
  It varies when two shown runs differ in it (a run without the key counts as different);
  the others are folded into ``constant``.
- Values read as people write them: ints as ints, floats in ``%.6g`` (0.001, not 1e-03),
  booleans and null as JSON, strings as they are, dicts and lists as compact JSON.
- ``run_table_texts`` gives each row the strings its cells show (link, label, status, profile,
  duration, launch time), computed once in Python instead of by template lookups, filters and an
  include per row: the same text as ``{{ r.created_at|date:"Y-m-d H:i" }}`` and ``|default:"—"``.
- Runs created by one launch request (a sweep) share its ``sweep_id`` (``services.launch.runs_create``):
  consecutive rows with one ``sweep_id`` form a group. Runs from before migration 0010 have none and
  are never grouped (no guessing from timestamps).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.timezone import get_current_timezone, is_naive

from ..access import User
from ..choices import RunStatus
from ..models import Experiment, RunTablePreference

#: Sources of a column, in the order the table shows them.
SOURCES = ("config", "params", "results", "metrics")
#: Nested dicts of config and params are flattened to dotted keys this deep; deeper values are JSON.
MAX_DEPTH = 4
#: At most this many varying columns are offered (the rest would not fit a table anyway).
MAX_COLUMNS = 60


def value_display(value: Any) -> str:
    """A value as a person reads it (no Python reprs)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value).lower()
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)


def _flatten(prefix: str, value: Any, out: dict[str, Any], depth: int) -> None:
    if isinstance(value, dict) and value and depth < MAX_DEPTH:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out, depth + 1)
    else:
        out[prefix] = value


def run_columns(run: Any, metrics: list | None) -> dict[str, Any]:
    """Every column value of one run: flattened config and params, results and latest metrics."""
    values: dict[str, Any] = {}
    for source in ("config", "params"):
        data = getattr(run, source, None)
        if isinstance(data, dict):
            for key, item in data.items():
                _flatten(f"{source}.{key}", item, values, 1)
    if isinstance(run.results, dict):
        for key, item in run.results.items():
            values[f"results.{key}"] = item
    for metric in metrics or ():
        values[f"metrics.{metric.key}"] = metric.value
    return values


@dataclass
class Column:
    key: str
    source: str
    label: str
    shown: bool = True


@dataclass
class TableRow:
    run: Any
    cells: list[str]
    group_size: int = 1
    group_start: bool = False
    #: Filled by ``run_table_texts`` (the experiment page's table): what the row's cells show.
    texts: dict[str, str] = field(default_factory=dict)


@dataclass
class RunTable:
    columns: list[Column]  # the varying columns, in order (shown or not)
    rows: list[TableRow]
    constant: list[tuple[str, str]] = field(default_factory=list)  # (key, value) the same for all rows

    @property
    def shown(self) -> list[Column]:
        return [c for c in self.columns if c.shown]


def _sort_key(key: str) -> tuple[int, str]:
    source = key.split(".", 1)[0]
    return (SOURCES.index(source), key)


def run_table_build(*, runs: list, metrics: dict[int, list], hidden: list[str] | None = None) -> RunTable:
    """The table of ``runs`` (in their order): varying columns, constant line and sweep groups."""
    hidden_set = set(hidden or ())
    values = [run_columns(run, metrics.get(run.pk)) for run in runs]
    keys = sorted({k for v in values for k in v}, key=_sort_key)
    _missing = object()
    varying, constant = [], []
    for key in keys:
        seen = {json.dumps(v.get(key, _missing), sort_keys=True, default=repr) for v in values}
        if len(seen) > 1:
            varying.append(key)
        else:
            constant.append((key, value_display(values[0][key])))
    columns = [
        Column(key=k, source=k.split(".", 1)[0], label=k.split(".", 1)[1], shown=k not in hidden_set)
        for k in varying[:MAX_COLUMNS]
    ]
    shown = [c.key for c in columns if c.shown]
    rows = [
        TableRow(run=run, cells=[value_display(v[k]) if k in v else "" for k in shown])
        for run, v in zip(runs, values, strict=True)
    ]
    _group(rows)
    return RunTable(columns=columns, rows=rows, constant=constant)


def _group(rows: list[TableRow]) -> None:
    """Mark consecutive rows of one launch request (same ``sweep_id``)."""
    i = 0
    while i < len(rows):
        sweep = getattr(rows[i].run, "sweep_id", None)
        j = i + 1
        while j < len(rows) and sweep is not None and rows[j].run.sweep_id == sweep:
            j += 1
        if j - i > 1:
            rows[i].group_start = True
            for row in rows[i:j]:
                row.group_size = j - i
        i = j


#: A run row's missing value (no profile, no duration, an empty cell).
DASH = "—"


def _minute(value: datetime, tz) -> str:
    """``value`` as ``{{ value|date:"Y-m-d H:i" }}`` shows it: in ``tz`` (the current time zone) when aware
    and ``USE_TZ`` (``template_localtime``)."""
    local = value.astimezone(tz) if tz is not None and not is_naive(value) else value
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"


def _run_url(run: Any, paths: dict[tuple[str, str, str], tuple[str, str] | None]) -> str:
    """``run.get_absolute_url()``, reversed once per experiment path: ``<int:number>`` is ``str(number)``,
    so the URL of number 0 split at its ``/0/`` segment fits every number (checked against a real reverse
    of the first run; a pattern it does not fit falls back to ``get_absolute_url``)."""
    slugs = (run.workspace.slug, run.project.slug, run.experiment.slug)
    if slugs not in paths:
        url = run.get_absolute_url()
        kwargs = {"ws": slugs[0], "project": slugs[1], "experiment": slugs[2], "number": 0}
        head, sep, tail = reverse("runs:run-detail", kwargs=kwargs).rpartition("/0/")
        fits = sep and f"{head}/{run.number}/{tail}" == url
        paths[slugs] = (head, tail) if fits else None
        return url
    parts = paths[slugs]
    return f"{parts[0]}/{run.number}/{parts[1]}" if parts else run.get_absolute_url()


def run_table_texts(table: RunTable, *, experiment_name: str) -> None:
    """Give each row of ``table`` its display strings (``row.texts``) and dash its empty cells.

    The rows' runs come from ``run_list`` (experiment, project, workspace and ``launched_by``
    selected) with ``duration_display`` set. No query. The template escapes every string.
    """
    tz = get_current_timezone() if settings.USE_TZ else None
    labels = {value: str(label) for value, label in RunStatus.choices}
    paths: dict[tuple[str, str, str], tuple[str, str] | None] = {}
    for row in table.rows:
        run = row.run
        number = str(run.number)
        created = _minute(run.created_at, tz)
        launched_by = f" · {run.launched_by.username}" if run.launched_by_id else ""
        row.cells = [cell or DASH for cell in row.cells]
        row.texts = {
            "compare": f"{run.workspace.slug}/{run.project.slug}/{run.experiment.slug}:{number}",
            "label": f"{experiment_name} #{number}",
            "url": _run_url(run, paths),
            "status": run.status,
            "status_label": labels.get(run.status, run.status) or run.status,
            "profile": run.profile or DASH,
            "duration": getattr(run, "duration_display", "") or DASH,
            "created": created,
            "launched": created + launched_by,
        }


def run_table_hidden_get(*, user: User, experiment: Experiment) -> list[str]:
    """The columns ``user`` hides in ``experiment``'s runs table ([] if none chosen); one query.

    The experiment page reads it in its experiment lookup instead (``table_hidden``).
    """
    row = RunTablePreference.objects.filter(user_id=user.pk, experiment=experiment).values("hidden").first()
    hidden = (row or {}).get("hidden") or []
    return [h for h in hidden if isinstance(h, str)]
