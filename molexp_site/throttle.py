"""Sign-in throttling for the login page and ``POST /api/auth/token/`` (SPEC §11, security battery).

Failed sign-ins are counted in the cache, per username (whatever the client)
and per client address (whatever the username), in a fixed window of
``MOLEXP_LOGIN_WINDOW_SECONDS`` (default 300) from the first failure. Past
``MOLEXP_LOGIN_MAX_FAILURES`` (default 10) for a username, or
``MOLEXP_LOGIN_MAX_FAILURES_PER_CLIENT`` (default 30) for an address, every
further attempt is refused with 429 *before* the password is checked, so a
correct guess is refused too and the answer is the same whether the user
exists or not. A successful sign-in clears its username's count.

The counters live in Django's default cache: with several web processes it
must be a shared cache (Redis) for the limits to hold across them. The client
address is ``REMOTE_ADDR``; behind a reverse proxy the proxy must set it (e.g.
gunicorn's ``--forwarded-allow-ips``), since a client-chosen
``X-Forwarded-For`` would let an attacker pick a fresh address per attempt.

The token endpoint also has DRF's ``ScopedRateThrottle`` (scope ``auth-token``,
``MOLEXP_TOKEN_RATE``, default ``60/min`` per client) against bulk requests.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions

REFUSED = "Too many failed sign-in attempts. Wait a few minutes and try again."


def _window() -> int:
    return int(getattr(settings, "MOLEXP_LOGIN_WINDOW_SECONDS", 300))


def _keys(request: HttpRequest, username: str) -> list[tuple[str, int]]:
    """(cache key, limit) pairs: the username's counter and the client's."""
    name = hashlib.sha256(username.strip().lower().encode("utf-8", errors="replace")).hexdigest()
    client = request.META.get("REMOTE_ADDR", "") or "unknown"
    return [
        (f"molexp:signin-failures:user:{name}", int(getattr(settings, "MOLEXP_LOGIN_MAX_FAILURES", 10))),
        (f"molexp:signin-failures:client:{client}", int(getattr(settings, "MOLEXP_LOGIN_MAX_FAILURES_PER_CLIENT", 30))),
    ]


def signin_blocked(request: HttpRequest, username: str) -> bool:
    """Whether this username or this client has used up its failed attempts for the window."""
    keys = _keys(request, username)
    counts = cache.get_many([key for key, _ in keys])
    return any(counts.get(key, 0) >= limit for key, limit in keys)


def signin_failed(request: HttpRequest, username: str) -> None:
    """Count one failed attempt for the username and for the client."""
    for key, _ in _keys(request, username):
        if not cache.add(key, 1, timeout=_window()):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=_window())


def signin_succeeded(request: HttpRequest, username: str) -> None:
    """A correct password clears the username's count (not the client's)."""
    cache.delete(_keys(request, username)[0][0])


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView refusing (429, form error) a username or client with too many failures."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = str(request.POST.get("username", ""))[:150]
        if signin_blocked(request, username):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, REFUSED)
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        response = super().post(request, *args, **kwargs)
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            signin_succeeded(request, username)
        else:
            signin_failed(request, username)
        return response


class SigninThrottled(exceptions.Throttled):
    default_detail = REFUSED


def token_signin_guard(request, authenticate):
    """Run ``authenticate()`` for the token endpoint under the same failure counters as the login page."""
    username = request.data.get("username", "") if hasattr(request.data, "get") else ""
    username = username if isinstance(username, str) else ""
    django_request = getattr(request, "_request", request)
    if signin_blocked(django_request, username):
        raise SigninThrottled(wait=_window())
    try:
        result = authenticate()
    except exceptions.ValidationError:
        signin_failed(django_request, username)
        raise
    signin_succeeded(django_request, username)
    return result
