"""Reads of run metrics: the latest point per key and downsampled series.

Invariants:
- The caller has scoped the run(s) (``run_get``, ``run_compare``); these do not scope.
- One downsampling rule, in the database (``_series_rows``): per partition, every n-th
  point counted back from the last one (n = ceil(total / max_points)), so the last point is
  always kept and at most ``max_points`` points are returned; one query for any number of runs.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Window
from django.db.models.functions import Mod, RowNumber

from ..models import Metric, Run

#: Points per metric key that ``metric_series`` returns at most.
METRIC_SERIES_MAX_POINTS = 2000


def metric_latest_list(*, run: Run) -> QuerySet[Metric]:
    """The last recorded point of each metric key of a run (highest step, then newest), one query."""
    latest = (
        Metric.objects.filter(run_id=run.pk, key=OuterRef("key"))
        .order_by(F("step").desc(nulls_last=True), "-id")
        .values("id")[:1]
    )
    return (
        Metric.objects.filter(run_id=run.pk)
        .annotate(latest_id=Subquery(latest))
        .filter(id=F("latest_id"))
        .order_by("key")
    )


def metric_latest_by_run(*, run_ids: list[int]) -> dict[int, list[Metric]]:
    """The last point of every metric key of each run in ``run_ids``, run id → metrics by key; one query."""
    if not run_ids:
        return {}
    latest = (
        Metric.objects.filter(run_id=OuterRef("run_id"), key=OuterRef("key"))
        .order_by(F("step").desc(nulls_last=True), "-id")
        .values("id")[:1]
    )
    rows = (
        Metric.objects.filter(run_id__in=run_ids)
        .annotate(latest_id=Subquery(latest))
        .filter(id=F("latest_id"))
        .only("id", "run_id", "key", "step", "value")
        .order_by("run_id", "key")
    )
    found: dict[int, list[Metric]] = {}
    for metric in rows:
        found.setdefault(metric.run_id, []).append(metric)
    return found


def metric_series_for_runs(
    *, run_ids: list[int], keys: list[str] | None = None, max_points: int = METRIC_SERIES_MAX_POINTS
) -> dict[int, dict[str, dict[str, Any]]]:
    """The metric series of several runs in one query: run id → key → ``{"total": n, "points": [Metric, …]}``.

    Points are ordered by step (points without a step first), then by insertion.
    A (run, key) with more than ``max_points`` points is downsampled in the database to
    every n-th point counted back from the last one (n = ceil(total / max_points)),
    so the last point is always kept and at most ``max_points`` are returned per key.
    ``keys`` (optional) restricts the keys; unknown keys are absent from the result.
    Every run of ``run_ids`` is in the result (``{}`` without metrics).
    """
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    found: dict[int, dict[str, dict[str, Any]]] = {pk: {} for pk in run_ids}
    if not run_ids:
        return found
    qs = Metric.objects.filter(run_id__in=run_ids)
    if keys:
        qs = qs.filter(key__in=keys)
    backwards = [F("step").desc(nulls_last=True), F("id").desc()]
    part = [F("run_id"), F("key")]
    qs = qs.annotate(
        from_end=Window(RowNumber(), partition_by=part, order_by=backwards),
        total=Window(Count("id"), partition_by=part),
    )
    # Integer division on both SQLite and PostgreSQL: the stride is ceil(total / max_points).
    stride = (F("total") + (max_points - 1)) / max_points
    qs = qs.annotate(phase=Mod(F("from_end") - 1, stride)).filter(phase=0)
    rows = qs.only("run_id", "key", "step", "value", "created_at").order_by(
        "run_id", "key", F("step").asc(nulls_first=True), "id"
    )
    for point in rows:
        entry = found.setdefault(point.run_id, {}).setdefault(point.key, {"total": point.total, "points": []})
        entry["points"].append(point)
    return found


def metric_series(
    *, run: Run, keys: list[str] | None = None, max_points: int = METRIC_SERIES_MAX_POINTS
) -> dict[str, dict[str, Any]]:
    """The metric series of one run, key → ``{"total": n, "points": [Metric, …]}``, in one query.

    ``metric_series_for_runs`` for this run alone (the same downsampling).
    """
    return metric_series_for_runs(run_ids=[run.pk], keys=keys, max_points=max_points)[run.pk]


def metric_points_xy(points: list[Metric]) -> list[list[Any]]:
    """A series' points as ``[x, y]`` pairs for the charts: x is the step, else the point's index."""
    return [[p.step if p.step is not None else i, p.value] for i, p in enumerate(points)]
