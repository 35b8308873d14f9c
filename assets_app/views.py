"""Thin HTML views of the asset catalog: scoped selectors, the shared FilterSet, fragments for htmx."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from runs_app.selectors import project_list, workspace_list

from .filtersets import AssetFilterSet
from .forms import catalog_filter_choices
from .selectors import asset_get, asset_list, asset_use_list

PAGE_SIZE = 25


@login_required
@require_GET
def asset_list_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    filterset = AssetFilterSet(request.GET or None, queryset=asset_list(user=user))
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "filters": request.GET}
    if request.htmx:
        return render(request, "assets_app/partials/_asset_table.html", context)
    context["choices"] = catalog_filter_choices(workspaces=workspace_list(user=user), projects=project_list(user=user))
    return render(request, "assets_app/asset_list.html", context)


@login_required
@require_GET
def asset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    asset = asset_get(user=user, pk=pk)
    versions = asset_list(
        user=user,
        filters={
            "workspace": asset.workspace_id,
            "project": asset.project_id,
            "experiment": asset.experiment_id,
            "run": asset.run_id,
            "scope": asset.scope,
            "kind": asset.kind,
            "name": asset.name,
        },
    ).order_by("-version")[:50]
    return render(
        request,
        "assets_app/asset_detail.html",
        {
            "asset": asset,
            "metadata_json": json.dumps(asset.metadata, indent=2, sort_keys=True, default=str),
            "data_json": json.dumps(asset.data, indent=2, sort_keys=True, default=str)
            if asset.data is not None
            else "",
            "versions": versions,
            "uses": asset_use_list(asset=asset)[:100],
        },
    )
