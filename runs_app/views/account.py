"""The account pages of runs_app: the API token."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from .. import selectors, services


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    """Show whether the user has an API token; POST replaces it and shows the new key this once."""
    new_key = None
    if request.method == "POST":
        token = services.token_regenerate(user=request.user)
        new_key = token.key
    else:
        token = selectors.api_token_get(user=request.user)
    return render(
        request,
        "runs_app/api_token.html",
        {"token": token, "new_key": new_key, "api_docs_url": reverse("api-docs")},
    )
