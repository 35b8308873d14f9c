"""The workspace activity feed: ``/w/<ws>/activity/``, run status events and asset additions, newest first.

Reads go through ``selectors.workspace_activity`` (any member; ``Http404`` for others).
The filter form does an htmx ``hx-get`` of this URL and gets the feed fragment back;
"Older" follows the keyset cursor. Without JavaScript both are plain GET links.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import selectors
from ..choices import RunStatus
from ..forms import activity_filters_clean


@login_required
@require_GET
def workspace_activity(request: HttpRequest, ws: str) -> HttpResponse:
    user = request.user
    workspace = selectors.workspace_get(user=user, slug=ws)
    errors: list[str] = []
    feed: dict = {"entries": [], "next_cursor": None}
    try:
        filters = activity_filters_clean(request.GET)
        feed = selectors.workspace_activity(
            user=user,
            workspace=workspace,
            filters=filters,
            cursor=request.GET.get("cursor") or None,
            limit=selectors.ACTIVITY_PAGE_SIZE,
        )
    except ValidationError as exc:
        errors = [m for messages in exc.message_dict.values() for m in messages]
    context = {
        "workspace": workspace,
        "entries": feed["entries"],
        "next_cursor": feed["next_cursor"],
        "errors": errors,
        "paged": bool(request.GET.get("cursor")),
    }
    status = 400 if errors else 200
    if request.htmx:
        return render(request, "runs_app/partials/_activity_feed.html", context, status=status)
    from assets_app.selectors import asset_kind_choices  # runs_app reaches assets through assets_app

    context.update(
        {
            "projects": selectors.project_list(user=user, workspace=workspace),
            "statuses": RunStatus.choices,
            "asset_kinds": asset_kind_choices(),
            "selected": {key: request.GET.get(key, "") for key in ("kind", "project", "status", "asset_kind")},
        }
    )
    return render(request, "runs_app/workspace_activity.html", context, status=status)
