"""Help pages: the repository's guides, shown inside the site (read-only, for signed-in users)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

WORKFLOWS_GUIDE = "docs/workflows.md"


@login_required
@require_GET
def help_workflows(request: HttpRequest) -> HttpResponse:
    """``docs/workflows.md`` (how a team adds its own workflows), as plain text in the page layout."""
    text = (Path(settings.BASE_DIR) / WORKFLOWS_GUIDE).read_text(encoding="utf-8")
    return render(request, "runs_app/help_workflows.html", {"text": text, "source": WORKFLOWS_GUIDE})
