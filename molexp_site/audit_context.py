"""The client address of the request being served, for the audit log (SPEC §14).

``AuditContextMiddleware`` puts ``REMOTE_ADDR`` (behind a reverse proxy the proxy must set
it, as for the sign-in throttle) in a context variable for the duration of one request;
``AuditEvent.objects.record`` reads it, so services record the address without taking a
request. Outside a request (tasks, commands) it is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

_client: ContextVar[str] = ContextVar("molexp_audit_client", default="")


def current_client() -> str:
    """The address of the client whose request is being served ("" outside a request)."""
    return _client.get()


def client_address(request: HttpRequest) -> str:
    return (getattr(request, "META", {}) or {}).get("REMOTE_ADDR", "") or ""


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _client.set(client_address(request)[:64])
        try:
            return self.get_response(request)
        finally:
            _client.reset(token)
