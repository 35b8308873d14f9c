"""htmx helpers shared by the HTML views of both apps (STYLE §5)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

#: htmx "stop polling" status code: a polled fragment answers it once there is nothing left to watch.
HTMX_STOP_POLLING = 286


def render_polled(request: HttpRequest, template: str, context: dict[str, Any], *, done: bool) -> HttpResponse:
    """Render a fragment that polls its own URL; status 286 (stop polling) once ``done``."""
    response = render(request, template, context)
    if done:
        response.status_code = HTMX_STOP_POLLING
    return response
