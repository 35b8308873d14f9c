"""From failure to fix (issue 14 item 8): for a failed run, the first later run of the same
experiment that succeeded, and what differed between them.

Invariants:
- The fix is the succeeded run of the failed run's experiment with the smallest number above the
  failed run's (one query on the ``(experiment, number)`` unique index), among runs ``user`` reads.
- What differed comes from ``run_compare`` (the one comparison code path: config, params,
  profile, code files by the snapshot's per-file hashes, inputs, environment, packages, git),
  keeping only rows that are not the same. Results and metrics are not "what differed": a failed
  run has none by nature.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from ..access import User, scope_to_user
from ..choices import RunStatus
from ..models import Run
from .compare import run_compare

#: Sections of a comparison that say what differed between a failure and its fix, in reading order.
FIX_SECTIONS = ("config", "params", "inputs", "environment", "packages", "git")


def run_fix_find(*, user: User, run: Run) -> Run | None:
    """The first succeeded run of ``run``'s experiment numbered after it (None if none yet); one query."""
    later = Run.objects.filter(experiment_id=run.experiment_id, number__gt=run.number, status=RunStatus.SUCCEEDED)
    return (
        scope_to_user(later, user=user)
        .select_related("experiment", "project", "workspace")
        .only(
            "id",
            "number",
            "status",
            "created_at",
            "finished_at",
            "experiment__name",
            "experiment__slug",
            "project__slug",
            "workspace__slug",
            "experiment_id",
            "project_id",
            "workspace_id",
        )  # fmt: skip
        .order_by("number")
        .first()
    )


def run_failure_fix(*, user: User, run: Run) -> dict[str, Any]:
    """The failed ``run`` (from a scoped lookup), its fix and what differed.

    Returns ``{"failed", "fix" (None when no later run succeeded), "differences": {section: rows
    that differ or are partial} ({} without a fix), "code": run_compare's code entry (files that
    changed, unified diff) or None, "profile": the profile row or None, "changed": number of
    differing rows + changed code files}``. ``ValidationError`` when ``run`` did not fail.
    Queries: one for the fix, then ``run_compare``'s constant number.
    """
    if run.status != RunStatus.FAILED:
        raise ValidationError({"run": f"{run.experiment.name} #{run.number} did not fail ({run.status})."})
    fix = run_fix_find(user=user, run=run)
    if fix is None:
        return {"failed": run, "fix": None, "differences": {}, "code": None, "profile": None, "changed": 0}
    comparison = run_compare(user=user, run_ids=[run.pk, fix.pk])
    differences = {section: [row for row in comparison[section] if row["status"] != "same"] for section in FIX_SECTIONS}
    code = comparison["code"][0]
    profile = comparison["profile"]
    changed = sum(len(rows) for rows in differences.values())
    changed += sum(1 for f in code["files"] if f["status"] != "identical")
    changed += profile["status"] != "same"
    return {
        "failed": comparison["runs"][0],
        "fix": comparison["runs"][1],
        "differences": differences,
        "code": code,
        "profile": profile,
        "changed": changed,
    }
