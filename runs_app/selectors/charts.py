"""Charts across runs (SPEC §15): one metric of up to ``CHART_MAX_RUNS`` runs, downsampled on the server.

Invariants:
- The caller passes runs already scoped to the user (``run_list`` + ``RunFilterSet``); nothing here
  widens them. Page and API both call ``chart_data`` (one code path).
- Each series has at most ``max_points`` points (≤ ``CHART_POINTS_LIMIT``, and ≤
  ``CHART_TOTAL_POINTS`` / runs: 100 per run at 100 runs) whatever the number of points stored:
  * a run with at most ``max_points`` points of the key, within a span of fewer steps, is returned
    whole (one bounded query);
  * a longer or wider run is sampled by index probes: the first point at or after each of ``max_points``
    evenly spaced steps between its first and last step (``metric_run_key_step`` index), so the
    first and the last point are always kept; duplicates are dropped. A spike between two probes
    may be missed (the run page's own chart of one run is not sampled this way).
  * points without a step of a long run are not charted across runs; a long run with no step at
    all falls back to ``metric_series_for_runs`` (every n-th point, a window over its points).
- The sampled series of a finished run is cached (``chart_series_cached``: keyed by run, its
  ``finished_at``, the metric key and the points), so a chart of finished runs reads no point twice.
- A constant number of queries: runs (1), metric keys (1), bounds (1), short runs (1), probes (1).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Q, QuerySet

from ..models import Metric, Run
from .metrics import metric_series_for_runs
from .run_table import run_columns, run_table_build, value_display

#: Runs one chart overlays at most.
CHART_MAX_RUNS = 100
#: Points per series by default, and at most.
CHART_DEFAULT_POINTS = 1000
CHART_POINTS_LIMIT = 2000
#: Points of one chart at most (all series together): with many runs each series gets fewer points
#: (``CHART_TOTAL_POINTS // runs``, at least ``CHART_MIN_POINTS``), so a chart stays small.
CHART_TOTAL_POINTS = 10_000
CHART_MIN_POINTS = 100
#: Metric keys offered in the key chooser at most.
CHART_MAX_KEYS = 200


def _ids_cte(run_ids: list[int]) -> tuple[str, list[int]]:
    """``r(id) AS (VALUES (%s), …)``: the runs as a table both SQLite and PostgreSQL read."""
    return "r(id) AS (VALUES " + ", ".join(["(%s)"] * len(run_ids)) + ")", list(run_ids)


def chart_metric_keys(*, run_ids: list[int]) -> list[str]:
    """The metric keys of the runs, sorted; one query that skips along the (run, key, step) index
    (a loose index scan), so its cost grows with the number of keys, not of points."""
    if not run_ids:
        return []
    table = connection.ops.quote_name(Metric._meta.db_table)
    cte, params = _ids_cte(run_ids)
    sql = (
        f"WITH RECURSIVE {cte}, k(run_id, key) AS ("  # noqa: S608 - quoted table name, integers; values are parameters
        f" SELECT r.id, (SELECT MIN(m.key) FROM {table} m WHERE m.run_id = r.id) FROM r"
        f" UNION ALL SELECT k.run_id, (SELECT MIN(m.key) FROM {table} m WHERE m.run_id = k.run_id AND m.key > k.key)"
        f" FROM k WHERE k.key IS NOT NULL)"
        f" SELECT DISTINCT key FROM k WHERE key IS NOT NULL ORDER BY key"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()[:CHART_MAX_KEYS]]


def _bounds(run_ids: list[int], key: str, max_points: int) -> dict[int, tuple[Any, Any, bool]]:
    """Run id → (first step, last step, long): index probes only.

    A run is long when its steps span more than ``max_points`` (no point is counted) or, spanning
    fewer, it has more than ``max_points`` points (one probe ``OFFSET max_points`` deep, only then).
    """
    table = connection.ops.quote_name(Metric._meta.db_table)
    cte, params = _ids_cte(run_ids)
    where = f"FROM {table} m WHERE m.run_id = r.id AND m.key = %s"
    sql = (
        f"WITH {cte}, b(id, lo, hi) AS (SELECT r.id,"  # noqa: S608 - quoted table name, integers; values are parameters
        f" (SELECT m.step {where} AND m.step IS NOT NULL ORDER BY m.step LIMIT 1),"
        f" (SELECT m.step {where} AND m.step IS NOT NULL ORDER BY m.step DESC LIMIT 1) FROM r)"
        f" SELECT b.id, b.lo, b.hi, CASE WHEN b.hi - b.lo >= %s THEN b.id ELSE"
        f" (SELECT m.id FROM {table} m WHERE m.run_id = b.id AND m.key = %s ORDER BY m.step LIMIT 1 OFFSET %s) END"
        f" FROM b"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, key, key, max_points, key, max_points])
        return {row[0]: (row[1], row[2], row[3] is not None) for row in cursor.fetchall()}


def _probe(bounds: dict[int, tuple[Any, Any, bool]], key: str, max_points: int) -> list[tuple]:
    """(run id, step, value, created_at) at ``max_points`` evenly spaced steps of each run; one query."""
    table = connection.ops.quote_name(Metric._meta.db_table)
    rows = ", ".join(["(%s, %s, %s)"] * len(bounds))
    params: list[Any] = [v for run_id, (lo, hi, _) in bounds.items() for v in (run_id, lo, hi)]
    last = max(1, max_points - 1)
    target = f"r.lo + ((r.hi - r.lo) * t.i) / {last}"
    seq = f"t(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM t WHERE i < {last})"  # noqa: S608 - quoted table name, integers; values are parameters
    if connection.vendor == "postgresql":
        # Run by run, probes in step order: each run's index and heap pages are read in order.
        sql = (
            f"WITH RECURSIVE r(id, lo, hi) AS (VALUES {rows}), {seq}"  # noqa: S608 - quoted table name, integers; values are parameters
            f" SELECT r.id, p.step, p.value, p.created_at, p.id FROM r CROSS JOIN LATERAL"
            f" (SELECT q.* FROM t CROSS JOIN LATERAL"
            f" (SELECT m.id, m.step, m.value, m.created_at FROM {table} m WHERE m.run_id = r.id AND m.key = %s"
            f" AND m.step >= {target} ORDER BY m.step LIMIT 1) q) p ORDER BY r.id, p.step, p.id"
        )
    else:  # SQLite: no LATERAL; the probes give ids, the points are read by primary key
        sql = (
            f"WITH RECURSIVE r(id, lo, hi) AS (VALUES {rows}), {seq}"  # noqa: S608 - quoted table name, integers; values are parameters
            f" SELECT m.run_id, m.step, m.value, m.created_at, m.id FROM {table} m WHERE m.id IN ("
            f" SELECT (SELECT x.id FROM {table} x WHERE x.run_id = r.id AND x.key = %s AND x.step >= {target}"
            f" ORDER BY x.step LIMIT 1) FROM r CROSS JOIN t) ORDER BY m.run_id, m.step, m.id"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, key])
        return cursor.fetchall()


def _short(value: float) -> float:
    """A value with the 7 significant digits a chart can show (a smaller response)."""
    return float(f"{value:.7g}")


def _epoch(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite's raw cursor may return text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # stored in UTC
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)  # milliseconds: ints encode faster and shorter than floats


def chart_points_per_run(runs: int) -> int:
    """The points one series of a chart of ``runs`` runs gets at most (``CHART_TOTAL_POINTS``)."""
    return max(CHART_MIN_POINTS, CHART_TOTAL_POINTS // max(1, runs))


#: Cached series of finished runs live this long (their points no longer change).
CHART_CACHE_SECONDS = 7 * 24 * 3600


def _cache_key(run_id: int, version: str, key: str, max_points: int) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"chart-series:v3:{run_id}:{version}:{max_points}:{digest}"


def chart_series_cached(*, runs: list[Run], key: str, max_points: int = CHART_DEFAULT_POINTS) -> dict[int, dict]:
    """``chart_series`` with the series of finished runs kept in the cache.

    A finished run's points no longer change, so its sampled series is cached under its id and
    ``finished_at`` (a rerun that finishes again gets a new entry); active runs are always read.
    """
    if not runs:
        return {}
    max_points = max(2, min(int(max_points), CHART_POINTS_LIMIT, chart_points_per_run(len(runs))))
    names = {
        run.pk: _cache_key(run.pk, run.finished_at.isoformat(), key, max_points)
        for run in runs
        if run.is_terminal and run.finished_at
    }
    hits = cache.get_many(list(names.values())) if names else {}
    found = {pk: hits[name] for pk, name in names.items() if name in hits}
    missing = [run.pk for run in runs if run.pk not in found]
    fresh = chart_series(run_ids=missing, key=key, max_points=max_points) if missing else {}
    found.update(fresh)
    store = {names[pk]: fresh.get(pk, {"points": [], "sampled": False}) for pk in missing if pk in names}
    if store:
        cache.set_many(store, timeout=CHART_CACHE_SECONDS)
    return {pk: entry for pk, entry in found.items() if entry["points"]}


def chart_series(*, run_ids: list[int], key: str, max_points: int = CHART_DEFAULT_POINTS) -> dict[int, dict]:
    """Run id → ``{"points": [[step, epoch milliseconds, value], …], "sampled": bool}`` of metric ``key``.

    At most ``max_points`` points per run, and at most ``chart_points_per_run(len(run_ids))``
    (module docstring); runs without the key are absent.
    """
    if not run_ids:
        return {}
    max_points = max(2, min(int(max_points), CHART_POINTS_LIMIT, chart_points_per_run(len(run_ids))))
    bounds = _bounds(run_ids, key, max_points)
    short = [pk for pk, (lo, hi, long) in bounds.items() if not long]
    stepped = {pk: b for pk, b in bounds.items() if b[2] and b[0] is not None}
    unstepped = [pk for pk, (lo, hi, long) in bounds.items() if long and lo is None]
    found: dict[int, dict] = {}
    if short:
        rows = (
            Metric.objects.filter(run_id__in=short, key=key)
            .order_by("run_id", "step", "id")
            .values_list("run_id", "step", "value", "created_at", "id")
        )
        for run_id, step, value, created, _ in rows:
            entry = found.setdefault(run_id, {"points": [], "sampled": False})
            entry["points"].append([step if step is not None else len(entry["points"]), _epoch(created), _short(value)])
    if stepped:
        seen: set[tuple[int, int]] = set()
        for run_id, step, value, created, pk in _probe(stepped, key, max_points):
            if (run_id, pk) in seen:
                continue
            seen.add((run_id, pk))
            found.setdefault(run_id, {"points": [], "sampled": True})["points"].append(
                [step, _epoch(created), _short(value)]
            )
    if unstepped:
        for run_id, series in metric_series_for_runs(run_ids=unstepped, keys=[key], max_points=max_points).items():
            points = (series.get(key) or {}).get("points") or []
            if points:
                found[run_id] = {
                    "points": [[i, _epoch(p.created_at), _short(p.value)] for i, p in enumerate(points)],
                    "sampled": True,
                }
    return found


def chart_runs(
    qs: QuerySet[Run], *, run_ids: list[int] | None = None, run_numbers: list[int] | None = None
) -> tuple[list[Run], bool]:
    """The runs a chart shows: ``qs`` (scoped and filtered), narrowed to ``run_ids`` and/or
    ``run_numbers`` (of the one experiment ``qs`` holds) if given, by number, at most
    ``CHART_MAX_RUNS``; and whether more matched. One query."""
    if run_ids or run_numbers:
        qs = qs.filter(Q(pk__in=run_ids or []) | Q(number__in=run_numbers or []))
    rows = list(qs.order_by("number", "id")[: CHART_MAX_RUNS + 1])
    return rows[:CHART_MAX_RUNS], len(rows) > CHART_MAX_RUNS


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def chart_data(
    *,
    runs: list[Run],
    key: str,
    truncated: bool = False,
    max_points: int = CHART_DEFAULT_POINTS,
) -> dict[str, Any]:
    """Everything a chart across ``runs`` draws, JSON-ready (the page embeds it, the API returns it).

    ``runs`` come from ``chart_runs``; ``key`` "" means the first metric key of the runs.
    Columns are the config/params/results keys that vary among the runs (the runs table's rule), the
    choices for the colour and the axes of the parallel coordinates.
    """
    run_ids = [r.pk for r in runs]
    table = run_table_build(runs=runs, metrics={})
    columns = [c.key for c in table.columns]
    keys = chart_metric_keys(run_ids=run_ids)
    if not key and keys:  # no key asked: the first one, so a chart shows at once
        key = keys[0]
    max_points = min(max_points, chart_points_per_run(len(run_ids)))
    series = chart_series_cached(runs=runs, key=key, max_points=max_points) if key else {}
    rows = []
    for run in runs:
        values = run_columns(run, None)
        rows.append(
            {
                "id": run.pk,
                "number": run.number,
                "label": f"{run.experiment.name} #{run.number}",
                "url": run.get_absolute_url(),
                "status": run.status,
                "values": {c: value_display(values[c]) if c in values else "" for c in columns},
                "numbers": {c: _numeric(values.get(c)) for c in columns},
                "points": series.get(run.pk, {}).get("points", []),
                "sampled": series.get(run.pk, {}).get("sampled", False),
            }
        )
    return {
        "key": key,
        "keys": keys,
        "columns": columns,
        "constant": [k for k, _ in table.constant],
        "runs": rows,
        "truncated": truncated,
        "max_runs": CHART_MAX_RUNS,
        "max_points": max_points,
        "point_fields": ["step", "time_ms", "value"],
    }
