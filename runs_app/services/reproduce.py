"""Reproduce a finished run and judge whether it reproduced (SPEC §5, issue 7 item 1).

Invariants:
- A reproduction is a new run of the same experiment built from the original's
  *record*, never from the files as they are now: the same ``SourceBlob``,
  profile, merged config (and hash), overrides and params. It is created,
  queued and dispatched after commit by the launch path (``launch.runs_create``).
- Its ``input_pins`` map every asset name the original resolved to the exact
  asset id it got, so ``find_asset`` returns those versions, not the newest.
- The verdict is computed once the reproduction is terminal (by the worker at
  the end of ``execution_run``; lazily by ``reproduction_verdict_get`` for a run
  that ended without a worker, e.g. cancelled while queued). It is derived
  only from rows (asset sha256, results, metrics, execution environment), so
  computing it twice gives the same answer.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from molexp_site.errors import Conflict

from ..choices import Role
from ..models import Metric, Run
from ..policy import RunAction, run_action_require, run_require_server_code
from ..selectors import execution_latest, metric_latest_by_run, workspace_require_role
from .launch import launch_plan_from_run, runs_create

logger = logging.getLogger(__name__)

#: Default relative tolerance for metric values (``MOLEXP_REPRODUCE_RTOL``).
DEFAULT_RTOL = 1e-9
#: Packages the "How to reproduce" panel lists first when present.
KEY_PACKAGES = (
    "Django", "celery", "numpy", "scipy", "pandas", "rdkit", "torch", "scikit-learn", "ase", "openmm", "pymatgen",
)  # fmt: skip


def reproduce_rtol() -> float:
    """The relative tolerance for metrics: ``settings.MOLEXP_REPRODUCE_RTOL``, else the environment, else 1e-9."""
    raw = getattr(settings, "MOLEXP_REPRODUCE_RTOL", None)
    if raw is None:
        raw = os.environ.get("MOLEXP_REPRODUCE_RTOL", "") or DEFAULT_RTOL
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"MOLEXP_REPRODUCE_RTOL must be a number, not {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"MOLEXP_REPRODUCE_RTOL must be a finite number >= 0, not {raw!r}")
    return value


def run_input_pins(*, run: Run) -> dict[str, int]:
    """Asset name → asset id of every input the run resolved (the first version resolved per name)."""
    from assets_app.selectors import asset_use_list_for_run  # runs_app reads assets through assets_app

    pins: dict[str, int] = {}
    for use in asset_use_list_for_run(run=run):
        pins.setdefault(use.asset.name, use.asset.pk)
    return pins


def run_reproduce(*, user, run: Run) -> Run:
    """Queue a reproduction of a finished run (editor or owner); returns the new run.

    The new run has the original's snapshot, profile, config, overrides and
    params, ``reproduction_of=run`` and ``input_pins`` from the original's
    asset uses. Side effects: ``Run``/``Execution``/``RunEvent`` rows and one
    ``runs.execution_run`` message after commit.
    Raises ``PermissionDenied`` (viewer), ``Http404`` (outsider), ``Conflict``
    if the run is not succeeded/failed, has no stored snapshot, or is an imported record
    (or re-uses the snapshot of one: its code came from a crate and never runs).
    """
    workspace_require_role(user=user, workspace=run.workspace, role=Role.EDITOR)
    run_require_server_code(run=run)
    run = Run.objects.select_related("experiment", "project", "workspace", "source_blob").get(pk=run.pk)
    run_action_require(run=run, action=RunAction.REPRODUCE)
    plan = launch_plan_from_run(
        run=run,
        config=dict(run.config or {}),
        config_hash=run.config_hash,
        overrides=list(run.overrides or []),
        params=dict(run.params or {}),
    )
    return runs_create(plan=plan, user=user, reproduction_of=run, input_pins=run_input_pins(run=run))[0]


# --- the verdict -------------------------------------------------------------------------


def _artifacts(run: Run) -> dict[str, dict[str, Any]]:
    """The latest version of each artifact name of a run: name → {id, version, sha256, size}."""
    latest: dict[str, dict[str, Any]] = {}
    rows = run.assets.query(kind="artifact").values_list("id", "name", "version", "sha256", "size")
    for pk, name, version, sha256, size in rows:
        found = latest.get(name)
        if found is None or (version, pk) > (found["version"], found["id"]):
            latest[name] = {"id": pk, "version": version, "sha256": sha256, "size": size}
    return latest


def _compare_artifacts(original: Run, reproduction: Run) -> dict[str, Any]:
    left, right = _artifacts(original), _artifacts(reproduction)
    items = []
    for name in sorted(set(left) | set(right)):
        a, b = left.get(name), right.get(name)
        if a is None:
            state = "missing_in_original"
        elif b is None:
            state = "missing_in_reproduction"
        else:
            state = "identical" if a["sha256"] and a["sha256"] == b["sha256"] else "different"
        items.append({"name": name, "status": state, "original": a, "reproduction": b})
    identical = sum(1 for item in items if item["status"] == "identical")
    return {"total": len(items), "identical": identical, "all_identical": identical == len(items), "items": items}


def _compare_results(original: Run, reproduction: Run) -> dict[str, Any]:
    left, right = original.results or {}, reproduction.results or {}
    items = []
    for key in sorted(set(left) | set(right)):
        equal = key in left and key in right and left[key] == right[key]
        items.append({"key": key, "original": left.get(key), "reproduction": right.get(key), "equal": equal,
                      "missing": "original" if key not in left else "reproduction" if key not in right else None})  # fmt: skip
    return {"equal": all(item["equal"] for item in items), "items": items}


def _close(a: float, b: float, rtol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rtol, abs_tol=0.0)


def _compare_metrics(original: Run, reproduction: Run, rtol: float) -> dict[str, Any]:
    latest = metric_latest_by_run(run_ids=[original.pk, reproduction.pk])
    counts: dict[tuple[int, str], int] = {
        (row["run_id"], row["key"]): row["n"]
        for row in Metric.objects.filter(run_id__in=[original.pk, reproduction.pk])
        .values("run_id", "key")
        .annotate(n=Count("id"))
        .order_by()
    }
    last = {(m.run_id, m.key): m.value for run_id in latest for m in latest[run_id]}
    keys = sorted({key for _, key in counts})
    items = []
    for key in keys:
        sides = {}
        for label, run in (("original", original), ("reproduction", reproduction)):
            n = counts.get((run.pk, key), 0)
            sides[label] = {"last": last.get((run.pk, key)), "count": n} if n else None
        a, b = sides["original"], sides["reproduction"]
        within = (
            a is not None
            and b is not None
            and a["count"] == b["count"]
            and _close(float(a["last"]), float(b["last"]), rtol)
        )
        items.append({"key": key, "within": within, **sides})
    return {"rtol": rtol, "within": all(item["within"] for item in items), "items": items}


def _environment_of(run: Run) -> dict[str, Any]:
    execution = execution_latest(run=run)
    return dict(execution.environment or {}) if execution is not None else {}


def _compare_environment(original: Run, reproduction: Run) -> dict[str, Any]:
    left, right = _environment_of(original), _environment_of(reproduction)
    fields = {}
    for key in ("python", "python_implementation", "platform", "machine"):
        if left.get(key) != right.get(key):
            fields[key] = {"original": left.get(key), "reproduction": right.get(key)}
    pa, pb = left.get("packages") or {}, right.get("packages") or {}
    changed = {name: {"original": pa[name], "reproduction": pb[name]} for name in sorted(pa) if name in pb and pa[name] != pb[name]}  # fmt: skip
    added = {name: pb[name] for name in sorted(pb) if name not in pa}
    removed = {name: pa[name] for name in sorted(pa) if name not in pb}
    same = not (fields or changed or added or removed)
    return {"same": same, "fields": fields, "packages": {"changed": changed, "added": added, "removed": removed},
            "recorded": bool(left) and bool(right)}  # fmt: skip


def _compare_code(original: Run, reproduction: Run) -> dict[str, Any]:
    """The executed code, file by file: both runs' snapshot manifests (the worker runs exactly those bytes,
    each checked against its sha256 when the bundle is materialised)."""
    from ..snapshot import manifest_compare, manifest_of

    left, right = original.workflow_snapshot or {}, reproduction.workflow_snapshot or {}
    rows = manifest_compare(manifest_of(left), manifest_of(right))
    changed = [row["path"] for row in rows if row["status"] != "identical"]
    identical = bool(rows) and not changed
    snapshot = right.get("snapshot_hash") or right.get("source_sha256", "")
    if identical:
        summary = f"executed code identical file by file ({len(rows)} file{'s' if len(rows) != 1 else ''}, snapshot {snapshot[:12]})"
    elif not rows:
        summary = "no code snapshot recorded"
    else:
        summary = f"executed code differs in {len(changed)} of {len(rows)} files ({', '.join(changed[:10])})"
    return {
        "identical": identical,
        "snapshot_hash": {"original": left.get("snapshot_hash", ""), "reproduction": right.get("snapshot_hash", "")},
        "files": [{"path": row["path"], "status": row["status"], "sha256": row["new"] or row["old"]} for row in rows],
        "changed": changed,
        "summary": summary,
    }


def _summary(verdict: dict[str, Any]) -> str:
    arts, results, metrics = verdict["artifacts"], verdict["results"], verdict["metrics"]
    rtol = f"{metrics['rtol']:.0e}" if metrics["rtol"] else "0"
    if verdict["reproduced"]:
        parts = [f"{arts['identical']} of {arts['total']} artifacts identical", "results equal"]
        parts.append(f"metrics within {rtol}" if metrics["items"] else "no metrics")
        return "reproduced: " + ", ".join(parts)
    problems = []
    status = verdict["run_status"]
    if not status["equal"]:
        problems.append(f"status {status['reproduction']} (original {status['original']})")
    differing = [item["name"] for item in arts["items"] if item["status"] == "different"]
    if differing:
        problems.append(f"{len(differing)} of {arts['total']} artifacts differ ({', '.join(differing)})")
    missing = [item["name"] for item in arts["items"] if item["status"].startswith("missing")]
    if missing:
        problems.append(f"artifacts missing on one side ({', '.join(missing)})")
    keys = [item["key"] for item in results["items"] if not item["equal"]]
    if keys:
        problems.append(f"results differ ({', '.join(keys)})")
    keys = [item["key"] for item in metrics["items"] if not item["within"]]
    if keys:
        problems.append(f"metrics outside {rtol} ({', '.join(keys)})")
    if not verdict["code"]["identical"]:
        problems.append(verdict["code"]["summary"])
    return "not reproduced: " + "; ".join(problems or ["unknown difference"])


def reproduction_verdict_build(*, original: Run, reproduction: Run, rtol: float | None = None) -> dict[str, Any]:
    """Compare a reproduction with its original; returns the verdict mapping (writes nothing).

    Per artifact name (latest version on each side): identical sha256, different,
    or missing on one side; results per key; metrics per key (last value within
    the relative tolerance and the same point count); environment differences
    (informational: they do not decide ``reproduced``); the executed code file by file
    (``code``: it must be identical); and the run statuses.
    """
    rtol = reproduce_rtol() if rtol is None else rtol
    verdict: dict[str, Any] = {
        "original": original.pk,
        "reproduction": reproduction.pk,
        "run_status": {
            "original": original.status,
            "reproduction": reproduction.status,
            "equal": original.status == reproduction.status,
        },
        "artifacts": _compare_artifacts(original, reproduction),
        "results": _compare_results(original, reproduction),
        "metrics": _compare_metrics(original, reproduction, rtol),
        "environment": _compare_environment(original, reproduction),
        "code": _compare_code(original, reproduction),
        "computed_at": timezone.now().isoformat(),
    }
    verdict["reproduced"] = bool(
        verdict["run_status"]["equal"]
        and verdict["artifacts"]["all_identical"]
        and verdict["results"]["equal"]
        and verdict["metrics"]["within"]
        and verdict["code"]["identical"]
    )
    verdict["summary"] = _summary(verdict)
    return verdict


def reproduction_verdict_compute(*, run: Run) -> dict[str, Any] | None:
    """Compute and store the verdict of a terminal reproduction; None for any other run.

    Called by the worker at the end of ``execution_run`` (for every run; it
    returns at once unless ``reproduction_of`` is set). Never raises: a verdict
    that cannot be computed is logged and left unset (``reproduction_verdict_get``
    computes it later), because the run itself has already been recorded.
    Side effect: ``Run.verdict`` of the reproduction.
    """
    if not run.reproduction_of_id:
        return None
    try:
        reproduction = Run.objects.get(pk=run.pk)
        if not reproduction.is_terminal or reproduction.reproduction_of_id is None:
            return None
        original = Run.objects.get(pk=reproduction.reproduction_of_id)
        verdict = reproduction_verdict_build(original=original, reproduction=reproduction)
        Run.objects.filter(pk=reproduction.pk).update(verdict=verdict)
        logger.info("run %s: %s", reproduction.pk, verdict["summary"])
        return verdict
    except Exception:
        logger.exception("verdict of reproduction run %s could not be computed", run.pk)
        return None


def reproduction_verdict_get(*, run: Run) -> dict[str, Any] | None:
    """The stored verdict of a reproduction, or None while it is not terminal.

    A terminal reproduction without a verdict (it ended without a worker: cancelled
    while queued, or failed by the reaper) gets it computed now.
    Raises ``Conflict`` if ``run`` is not a reproduction.
    """
    if not run.reproduction_of_id:
        raise Conflict(f"Run #{run.number} is not a reproduction.")
    if run.verdict:
        return run.verdict
    if not run.is_terminal:
        return None
    return reproduction_verdict_compute(run=run)
