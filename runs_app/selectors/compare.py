"""Run comparison: two to ``COMPARE_MAX_RUNS`` runs of one workspace, side by side.

Invariants:
- Scoped: any invisible run is ``Http404``; runs of different workspaces are a ``ValidationError``.
- A constant number of queries whatever the number of runs (runs, source blobs, executions,
  latest metrics, metric series, asset uses).
- Values are compared by their canonical JSON spelling (``1`` differs from ``1.0``).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404

from assets_app.selectors import asset_use_versions_for_runs

from ..access import User, scope_to_user
from ..models import (
    Execution,
    Experiment,
    Run,
    SourceBlob,
)
from .metrics import metric_latest_by_run, metric_points_xy, metric_series_for_runs
from .sources import code_diff

#: Runs one comparison may hold at most.
COMPARE_MAX_RUNS = 20

#: Points per (run, metric key) the overlaid curves get at most.
COMPARE_CHART_POINTS = 500

#: Environment fields compared one by one (``packages`` is compared package by package).
_ENV_FIELDS = ("python", "python_implementation", "platform", "machine")

_GIT_FIELDS = ("git_commit", "git_branch", "git_dirty")


def _canonical(value: Any) -> str:
    """A JSON spelling that tells ``1`` from ``1.0`` and ``true`` (Python's ``==`` does not)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dot path → leaf value; lists and empty mappings are leaves."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: value} if prefix else {}


def _diff_rows(mappings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Key by key over several mappings: ``{"key", "status", "cells": [{"present", "value"}…]}``.

    ``status`` is ``same`` (every mapping has the key with equal values), ``differs`` (every
    mapping has it, values differ) or ``partial`` (only in some). Keys are sorted.
    """
    keys = sorted(set().union(*(m.keys() for m in mappings))) if mappings else []
    rows = []
    for key in keys:
        cells = [{"present": key in m, "value": m.get(key)} for m in mappings]
        if not all(c["present"] for c in cells):
            status = "partial"
        elif len({_canonical(c["value"]) for c in cells}) == 1:
            status = "same"
        else:
            status = "differs"
        rows.append({"key": key, "status": status, "cells": cells})
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"same": 0, "differs": 0, "partial": 0}
    for row in rows:
        counts[row["status"]] += 1
    return counts


def _inputs_rows(runs: list[Run], uses: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Asset name → the versions each run used; ``status`` as in ``_diff_rows`` (by version and sha256)."""
    names = sorted({u["name"] for r in runs for u in uses.get(r.pk, [])})
    rows = []
    for name in names:
        cells = []
        for r in runs:
            versions = [u for u in uses.get(r.pk, []) if u["name"] == name]
            cells.append({"present": bool(versions), "value": versions})
        if not all(c["present"] for c in cells):
            status = "partial"
        elif len({tuple((u["version"], u["sha256"]) for u in c["value"]) for c in cells}) == 1:
            status = "same"
        else:
            status = "differs"
        rows.append({"key": name, "status": status, "cells": cells})
    return rows


def run_refs_resolve(*, user: User, refs: list) -> list[int]:
    """Run ids of ``forms.run_compare_parse_refs`` references, in order; at most two queries.

    An experiment reference matches the visible experiments with that slug (and that project and
    workspace slug when given): none is ``Http404``, several is a ``ValidationError`` asking for
    the project (and workspace). Ids pass through (``run_compare`` checks them).
    """
    paths = {ref[0] for ref in refs if isinstance(ref, tuple)}
    if not paths:
        return [int(ref) for ref in refs]
    match = Q()
    for ws, project, experiment in paths:
        match |= Q(slug=experiment, **({"project__slug": project} if project else {}),
                   **({"workspace__slug": ws} if ws else {}))  # fmt: skip
    experiments = list(
        scope_to_user(Experiment.objects.filter(match), user=user).values_list(
            "pk", "slug", "project__slug", "workspace__slug"
        )
    )
    by_path: dict[tuple[str, ...], int] = {}
    for ws, project, experiment in paths:
        found = [e for e in experiments if e[1] == experiment and project in ("", e[2]) and ws in ("", e[3])]
        spelled = "/".join(p for p in (ws, project, experiment) if p)
        if not found:
            raise Http404(f"No such experiment: {spelled}.")
        if len(found) > 1:
            names = ", ".join(f"{e[3]}/{e[2]}/{e[1]}" for e in found)
            raise ValidationError({"runs": f"{spelled!r} names several experiments ({names}); add the project."})
        by_path[(ws, project, experiment)] = found[0][0]
    wanted = Q()
    for ref in refs:
        if isinstance(ref, tuple):
            wanted |= Q(experiment_id=by_path[ref[0]], number=ref[1])
    numbered = {
        (exp_id, number): pk
        for pk, exp_id, number in scope_to_user(Run.objects.filter(wanted), user=user).values_list(
            "pk", "experiment_id", "number"
        )
    }
    ids = []
    for ref in refs:
        if not isinstance(ref, tuple):
            ids.append(int(ref))
            continue
        pk = numbered.get((by_path[ref[0]], ref[1]))
        if pk is None:
            raise Http404(f"No such run: {'/'.join(p for p in ref[0] if p)} #{ref[1]}.")
        ids.append(pk)
    return list(dict.fromkeys(ids))


def run_compare_query(runs: list[Run]) -> str:
    """The ``?runs=`` value naming ``runs`` as people do (``lab/qm9/baseline:3,4,lab/qm9/tuning:2``)."""
    parts, current = [], None
    for run in runs:
        path = f"{run.workspace.slug}/{run.project.slug}/{run.experiment.slug}"
        parts.append(str(run.number) if path == current else f"{path}:{run.number}")
        current = path
    return ",".join(parts)


def run_compare(*, user: User, run_ids: list[int]) -> dict[str, Any]:
    """Compare two or more runs of one workspace; the first run is the baseline of the code diffs.

    Returns a JSON-friendly mapping (``runs`` in the order asked, then ``config``, ``params``,
    ``results``, ``metrics``, ``git``, ``environment`` and ``packages`` rows as in
    ``_diff_rows``, ``profile``, ``code`` diffs against the first run, ``inputs`` rows and
    ``curves``: key → one series per run). Constant queries whatever the number of runs:
    runs, source blobs, executions, latest metrics, metric series and asset uses (6).

    Raises ``ValidationError`` for fewer than two or too many ids, and for runs of
    different workspaces; ``Http404`` if any run is invisible to ``user`` (or does not exist).
    """
    if len(run_ids) < 2:
        raise ValidationError({"runs": "Pick at least two runs to compare."})
    if len(run_ids) > COMPARE_MAX_RUNS:
        raise ValidationError({"runs": f"At most {COMPARE_MAX_RUNS} runs can be compared at once."})
    qs = scope_to_user(Run.objects.filter(pk__in=run_ids), user=user)
    found = {r.pk: r for r in qs.select_related("experiment", "project", "workspace", "launched_by")}
    missing = [pk for pk in run_ids if pk not in found]
    if missing:
        raise Http404(f"No such run: {', '.join(str(pk) for pk in missing)}.")
    runs = [found[pk] for pk in run_ids]
    if len({r.workspace_id for r in runs}) > 1:
        raise ValidationError({"runs": "Runs of different workspaces cannot be compared; pick runs of one workspace."})

    blob_ids = {r.source_blob_id for r in runs if r.source_blob_id}
    blobs = {
        pk: bytes(content) for pk, content in SourceBlob.objects.filter(pk__in=blob_ids).values_list("pk", "content")
    }
    environments: dict[int, dict[str, Any]] = {}
    executions = Execution.objects.filter(run_id__in=run_ids).only("run_id", "number", "environment")
    for execution in executions.order_by("run_id", "number"):
        if execution.environment:  # the newest attempt that recorded one wins
            environments[execution.run_id] = execution.environment
    latest = metric_latest_by_run(run_ids=run_ids)
    series = metric_series_for_runs(run_ids=run_ids, max_points=COMPARE_CHART_POINTS)
    uses = asset_use_versions_for_runs(run_ids=run_ids)

    snapshots = [r.workflow_snapshot or {} for r in runs]
    envs = [environments.get(r.pk, {}) for r in runs]
    git = _diff_rows([{k: s[k] for k in _GIT_FIELDS if k in s} for s in snapshots])
    environment = _diff_rows([{k: e[k] for k in _ENV_FIELDS if k in e} for e in envs])
    packages_all = _diff_rows([e.get("packages") or {} if e else {} for e in envs])
    packages = [row for row in packages_all if row["status"] != "same"]
    metric_rows = _diff_rows([{m.key: m.value for m in latest.get(r.pk, [])} for r in runs])
    curve_keys = sorted({key for r in runs for key in series.get(r.pk, {})})
    curves = {
        key: [
            {
                "run": r.pk,
                "total": series[r.pk][key]["total"] if key in series.get(r.pk, {}) else 0,
                "points": metric_points_xy(series.get(r.pk, {}).get(key, {}).get("points", [])),
            }
            for r in runs
        ]
        for key in curve_keys
    }
    config = _diff_rows([_flatten(r.config or {}) for r in runs])
    params = _diff_rows([_flatten(r.params or {}) for r in runs])
    results = _diff_rows([dict(r.results or {}) for r in runs])
    inputs = _inputs_rows(runs, uses)
    return {
        "workspace": runs[0].workspace,
        "runs": runs,
        "config": config,
        "config_summary": _summary(config),
        "params": params,
        "profile": _diff_rows([{"profile": r.profile} for r in runs])[0],
        "code": [code_diff(runs[0], other, blobs) for other in runs[1:]],
        "topology": _diff_rows([{"topology_hash": s.get("topology_hash", "")} for s in snapshots])[0],
        "git": git,
        "git_diffs": [s.get("git_diff", "") for s in snapshots],
        "inputs": inputs,
        "environment": environment,
        "environment_recorded": [bool(e) for e in envs],
        "packages": packages,
        "packages_same": len(packages_all) - len(packages),
        "results": results,
        "metrics": metric_rows,
        "curves": curves,
    }
