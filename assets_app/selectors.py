"""Reads of the asset catalog, scoped to what a user may see.

Invariants: every selector filters on ``workspace_id`` through
``runs_app.selectors.scope_to_user`` (the asset's workspace key is always set,
so one filter covers every scope); an invisible asset is ``Http404``; list
selectors return rows shaped for a list page in one query.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from runs_app.selectors import scope_to_user

from .models import Asset, AssetUse

ASSET_LIST_FIELDS = (
    "id", "kind", "name", "version", "scope", "workspace_id", "project_id", "experiment_id", "run_id",
    "size", "sha256", "media_type", "tags", "created_at", "producer_run_id", "producer_task", "fingerprint",
    "workspace__name", "workspace__slug", "project__name", "project__slug", "experiment__name", "experiment__slug",
)  # fmt: skip


def asset_list(*, user, filters: dict[str, Any] | None = None) -> QuerySet[Asset]:
    """Assets the user may read, newest first (one query per page)."""
    qs = scope_to_user(Asset.objects.all(), user=user)
    filters = filters or {}
    # Column filters are applied by assets_app.filtersets.AssetFilterSet; these are the
    # keys that commands and services pass directly.
    for key in ("workspace", "project", "experiment", "run"):
        if filters.get(key) not in (None, ""):
            qs = qs.filter(**{f"{key}_id": filters[key]})
    for key in ("kind", "name", "sha256", "scope"):
        if filters.get(key) not in (None, ""):
            qs = qs.filter(**{key: filters[key]})
    if filters.get("producer_run") not in (None, ""):
        qs = qs.filter(producer_run_id=filters["producer_run"])
    return qs.select_related("workspace", "project", "experiment").only(*ASSET_LIST_FIELDS).order_by("-id")


def asset_get(*, user, pk: Any) -> Asset:
    qs = scope_to_user(
        Asset.objects.select_related("workspace", "project", "experiment", "run", "producer_run", "producer_execution"),
        user=user,
    )
    try:
        return qs.get(pk=pk).as_kind()
    except (Asset.DoesNotExist, ValueError, TypeError):
        raise Http404("No such asset.") from None


def asset_use_list(*, asset: Asset) -> QuerySet[AssetUse]:
    """Every run that used this asset version, newest first."""
    return AssetUse.objects.filter(asset=asset).select_related(
        "run__experiment", "run__project", "run__workspace", "execution"
    )
