"""The launch preview: what a launch plan would do, read for the page and the API alike.

Invariants:
- Writes nothing; the plan comes from ``services.launch_plan`` (no git capture).
- ``launch_preview`` is the one read behind the launch page's preview and
  ``/api/experiments/{id}/launch-preview/``: per-cell succeeded runs (one query for all cells)
  and the runs that already used the config (the first ``PREVIEW_EXISTING_RUNS`` and a count).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Max

from ..access import User
from ..models import Run, Workspace
from .runs import run_list, run_list_by_config_hash


def launch_preview_cells(*, user: User, workspace: Workspace, plan) -> dict[str, Any]:
    """Per sweep cell of a launch plan: its params, fingerprint and the newest succeeded run with it.

    One query for all cells (``fingerprint IN (…)``, succeeded, readable by ``user`` in
    ``workspace``). Returns ``{"cells": [...the first MOLEXP_LAUNCH_PREVIEW_MAX_CELLS...], "done": n, "total": n}``.
    """
    fingerprints = [plan.fingerprint(cell) for cell in plan.cells]
    found: dict[str, Run] = {}
    if plan.snapshot_hash:
        # The newest succeeded run per fingerprint, as a subquery: one statement, at most one row per cell
        # however many runs share a fingerprint.
        newest = (
            Run.objects.filter(workspace_id=workspace.pk, status="succeeded", fingerprint__in=set(fingerprints))
            .values("fingerprint")
            .annotate(last=Max("id"))
            .values("last")
        )
        for run in run_list(user=user, filters={"workspace": workspace.pk}).filter(pk__in=newest):
            found[run.fingerprint] = run
    cells = [
        {"params": cell, "fingerprint": fp, "succeeded_run": found.get(fp)}
        for cell, fp in zip(plan.cells[: settings.MOLEXP_LAUNCH_PREVIEW_MAX_CELLS], fingerprints, strict=False)
    ]
    return {"cells": cells, "done": sum(1 for fp in fingerprints if fp in found), "total": len(fingerprints)}


#: Runs with the same config hash that the launch preview lists (page and API).
PREVIEW_EXISTING_RUNS = 10


def launch_preview(*, user: User, workspace: Workspace, plan) -> dict[str, Any]:
    """Everything a launch preview shows for ``plan`` (a ``services.launch_plan`` result), page and API alike.

    Returns ``{"plan", "profile", "config", "config_hash", "snapshot_hash", "run_count",
    "cells", "cells_done", "cells_total"`` (``launch_preview_cells``), ``"existing_runs": [...],
    "existing_count": n, "existing_more": n, "warnings": [...]}`` (the plan's, e.g. unknown override keys):
    ``existing_runs`` are the newest ``PREVIEW_EXISTING_RUNS`` runs of ``workspace`` the user may
    read with the plan's config hash (``run_list`` rows), ``existing_count`` all of them (counted
    only when the list is full). Queries: the existing runs, maybe their count, and one for the cells.
    """
    same = run_list_by_config_hash(user=user, workspace=workspace, config_hash=plan.config_hash)
    existing = list(same[:PREVIEW_EXISTING_RUNS])
    count = same.count() if len(existing) == PREVIEW_EXISTING_RUNS else len(existing)
    cells = launch_preview_cells(user=user, workspace=workspace, plan=plan)
    return {
        "plan": plan,
        "profile": plan.profile,
        "config": plan.config,
        "config_hash": plan.config_hash,
        "snapshot_hash": plan.snapshot_hash,
        "run_count": len(plan.cells),
        "cells": cells["cells"],
        "cells_done": cells["done"],
        "cells_total": cells["total"],
        "existing_runs": existing,
        "existing_count": count,
        "existing_more": count - len(existing),
        "warnings": list(plan.warnings),
    }
