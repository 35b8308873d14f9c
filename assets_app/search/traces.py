"""Error-trace groups: the same failure (``fingerprint`` = exception type + normalized frames)
across runs, with counts, first/last seen, a sample message and the runs it hit.

``trace_groups`` groups an already user-scoped queryset of error traces (one
grouped query per page); ``trace_group_details`` adds the sample row and the
latest runs for one page of groups in two more queries (runs capped per group
with a window function).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Max, Min, QuerySet, Window
from django.db.models.functions import RowNumber

from assets_app.choices import AssetKind

#: Latest traces per group whose runs are listed.
RUNS_PER_GROUP = 10


def trace_groups(qs: QuerySet) -> QuerySet:
    """Groups of the error traces in ``qs``: most recently seen first (dict rows)."""
    return (
        qs.filter(kind=AssetKind.ERROR_TRACE)
        .exclude(fingerprint="")
        .order_by()
        .values("fingerprint")
        .annotate(
            count=Count("id"),
            run_count=Count("producer_run", distinct=True),
            first_seen=Min("created_at"),
            last_seen=Max("created_at"),
            sample_id=Max("id"),
        )
        .order_by("-last_seen", "fingerprint")
    )


def trace_group_details(groups: list[dict[str, Any]], *, scoped: QuerySet) -> list[dict[str, Any]]:
    """Fill each group's sample (type, message, task, experiment) and its latest runs."""
    if not groups:
        return groups
    model = scoped.model
    samples = {
        a.pk: a
        for a in model.objects.filter(pk__in=[g["sample_id"] for g in groups])
        .select_related("experiment", "project")
        .only(
            "id", "name", "exception_type", "exception_message", "producer_task", "experiment__slug",
            "experiment__name", "project__slug", "project__name", "workspace_id",
        )
    }  # fmt: skip
    runs = (
        scoped.filter(kind=AssetKind.ERROR_TRACE, fingerprint__in=[g["fingerprint"] for g in groups])
        .exclude(producer_run=None)
        .annotate(rn=Window(RowNumber(), partition_by=F("fingerprint"), order_by=F("id").desc()))
        .filter(rn__lte=RUNS_PER_GROUP)
        .values(
            "fingerprint",
            "producer_run_id",
            "producer_run__number",
            "producer_run__experiment__slug",
            "producer_run__experiment__name",
            "producer_run__project__slug",
            "producer_run__workspace__slug",
        )  # fmt: skip
        .order_by("fingerprint", "-id")
    )
    by_fp: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        seen = by_fp.setdefault(r["fingerprint"], [])
        if all(x["id"] != r["producer_run_id"] for x in seen):
            seen.append(
                {
                    "id": r["producer_run_id"],
                    "number": r["producer_run__number"],
                    "experiment": r["producer_run__experiment__slug"],
                    "experiment_name": r["producer_run__experiment__name"],
                    "project": r["producer_run__project__slug"],
                    "workspace": r["producer_run__workspace__slug"],
                }
            )
    for g in groups:
        sample = samples.get(g["sample_id"])
        g["exception_type"] = sample.exception_type if sample else ""
        g["message"] = (sample.exception_message if sample else "")[:500]
        g["task"] = sample.producer_task if sample else ""
        g["experiment"] = (
            {"slug": sample.experiment.slug, "name": sample.experiment.name} if sample and sample.experiment else None
        )
        g["runs"] = by_fp.get(g["fingerprint"], [])
    return groups
