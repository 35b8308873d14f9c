"""Edits from the asset page (SPEC §14): tags and description, and aliases; editors and owners.

Both are POST-only forms that call one service (``asset_edit``, ``asset_alias_set``) and
redirect back to the asset page (``HttpResponseClientRedirect`` for htmx). Bad input
re-renders nothing: the message is shown on the asset page through ``messages``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from .forms import AssetAliasForm, AssetEditForm
from .selectors import asset_get
from .services import asset_alias_set, asset_edit, trash_delete_require, trash_put


def _back(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _error(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


@login_required
@require_POST
def asset_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    asset = asset_get(user=request.user, pk=pk)
    form = AssetEditForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
        return _back(request, asset.get_absolute_url())
    try:
        asset_edit(user=request.user, asset=asset, tags=form.cleaned_tags(),
                   description=form.cleaned_data["description"])  # fmt: skip
    except ValidationError as exc:
        _error(request, exc)
    return _back(request, asset.get_absolute_url())


@login_required
@require_POST
def asset_alias_view(request: HttpRequest, pk: int) -> HttpResponse:
    asset = asset_get(user=request.user, pk=pk)
    form = AssetAliasForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
        return _back(request, asset.get_absolute_url())
    try:
        asset_alias_set(user=request.user, asset=asset, alias=form.cleaned_data["alias"])
    except ValidationError as exc:
        _error(request, exc)
    return _back(request, asset.get_absolute_url())


@login_required
@require_http_methods(["GET", "POST"])
def asset_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete an asset version into the trash (owners; SPEC §14): confirm on GET, ``trash_put`` on POST."""
    asset = asset_get(user=request.user, pk=pk)
    trash_delete_require(user=request.user, obj=asset)
    if request.method == "POST":
        trash_put(user=request.user, obj=asset)
        messages.success(request, f"Asset '{asset}' moved to the trash.")
        return _back(request, reverse("assets:asset-list"))
    context = {"obj": asset, "kind": "asset", "days": settings.MOLEXP_TRASH_DAYS}
    return render(request, "runs_app/trash_confirm.html", context)
