"""A nonce-based Content-Security-Policy on every HTML page (issue 12, finding 1).

Each request gets a fresh random nonce (``request.csp_nonce``, ``{{ csp_nonce }}`` in
templates). Every HTML response that does not set its own policy (downloads send
``sandbox``) gets ``POLICY`` with that nonce: scripts only from this site's static files
or an inline ``<script nonce="…">`` — no inline event handlers, no ``javascript:`` URLs, no
``eval`` — ``<style>`` elements only from static files or with the nonce, and fetches,
images, fonts and form posts only to this origin. A script injected into a page (a stored
``javascript:`` link, an unescaped value) therefore does not run.

What the front-end libraries need, and how they get it:

- htmx: ``<meta name="htmx-config">`` in ``base.html`` turns off its indicator ``<style>``
  (the rules are in ``static/css/molexp.css``), ``eval`` (``hx-on``, ``js:`` values, event
  filters) and the execution of ``<script>`` tags in swapped fragments, so a fragment can
  never carry code;
- the task graph is an SVG drawn by the server (``runs_app/task_graph.py``), no script; the
  server-rendered bars of the run timeline use ``style`` attributes, hence ``style-src-attr 'unsafe-inline'`` — a
  style attribute can place and colour an element, but cannot run code or load anything
  from another origin;
- Chart.js and Bootstrap set styles through the CSSOM, which CSP does not restrict.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self' 'nonce-{nonce}'; "
    "style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self' data:; "
    "connect-src 'self'; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "frame-ancestors 'none'; "
    "form-action 'self'"
)


def policy_for(nonce: str) -> str:
    """The policy a page whose inline scripts and styles carry ``nonce`` is served with."""
    return POLICY.format(nonce=nonce)


class ContentSecurityPolicyMiddleware:
    """Give each request a nonce and each HTML response without a policy of its own the nonce policy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = secrets.token_urlsafe(18)
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if content_type.startswith("text/html") and not response.has_header("Content-Security-Policy"):
            response["Content-Security-Policy"] = policy_for(request.csp_nonce)
        return response


def csp_nonce(request: HttpRequest) -> dict[str, str]:
    """Template context processor: ``{{ csp_nonce }}`` for ``<script nonce="…">``."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
