"""Sign-in throttling for every login path (SPEC §11, issue 12 findings 5 and 7).

Where: in the authentication backend (``ThrottledModelBackend``), so every path that
checks a password through ``django.contrib.auth.authenticate()`` is covered — the login
page, ``/admin/login/``, ``POST /api/auth/token/`` and any path added later. A view only
chooses how the refusal looks (a form error, a JSON ``detail``); the middleware turns a
refused page into a 429 with ``Retry-After`` even on a login path that does neither.

What is counted: failed sign-ins per (username, client address) and per client address
(whatever the username). Past ``MOLEXP_LOGIN_MAX_FAILURES`` (default 10) for a pair, or
``MOLEXP_LOGIN_MAX_FAILURES_PER_CLIENT`` (default 30) for an address, that pair or
address is locked for ``MOLEXP_LOGIN_LOCKOUT_SECONDS`` (default 60); each further failure
after a lock doubles the next one, up to ``MOLEXP_LOGIN_LOCKOUT_MAX_SECONDS`` (default
3600). While locked, attempts are refused before the password is checked (a correct
guess is refused too, and the answer is the same whether the user exists or not), and
refused attempts are not counted, so a lock always ends. Failures are forgotten
``MOLEXP_LOGIN_WINDOW_SECONDS`` (default 300) after the last one (plus its lock). A
correct password clears its pair's count, not the address's.

There is deliberately no lock per username alone: it would let anyone lock the owner of a
known name out of every client, renewable forever (issue 12, finding 7). A guesser of one
name is slowed per address they use instead.

The counters live in Django's default cache: with several web processes it must be a
shared cache (Redis, ``MOLEXP_CACHE_URL``) for the limits to hold across them. The client
address is ``REMOTE_ADDR``; behind a reverse proxy the proxy must set it (e.g. gunicorn's
``--forwarded-allow-ips``), since a client-chosen ``X-Forwarded-For`` would let an
attacker pick a fresh address per attempt.

The token endpoint also has DRF's ``ScopedRateThrottle`` (scope ``auth-token``,
``MOLEXP_TOKEN_RATE``, default ``60/min`` per client) against bulk requests.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions

REFUSED = "Too many failed sign-in attempts. Wait a few minutes and try again."
#: Attribute set on the ``HttpRequest`` whose sign-in was refused: the seconds to wait.
RETRY_AFTER_ATTR = "molexp_signin_retry_after"


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _http_request(request) -> HttpRequest:
    """The Django request behind a DRF ``Request`` (attributes set on the wrapper do not reach it)."""
    return getattr(request, "_request", request)


def _client(request) -> str:
    return _http_request(request).META.get("REMOTE_ADDR", "") or "unknown"


def _counters(request, username: str) -> list[tuple[str, int]]:
    """(cache key prefix, free failures) for the (username, client) pair and for the client."""
    client = _client(request)
    pair = hashlib.sha256(f"{username.strip().lower()}\x00{client}".encode("utf-8", errors="replace")).hexdigest()
    return [
        (f"molexp:signin:pair:{pair}", _setting("MOLEXP_LOGIN_MAX_FAILURES", 10)),
        (f"molexp:signin:client:{client}", _setting("MOLEXP_LOGIN_MAX_FAILURES_PER_CLIENT", 30)),
    ]


def lockout_seconds(failures: int, limit: int) -> int:
    """The lock after the ``failures``-th failure: none below ``limit``, then doubling up to the cap."""
    if failures < limit:
        return 0
    base = _setting("MOLEXP_LOGIN_LOCKOUT_SECONDS", 60)
    cap = _setting("MOLEXP_LOGIN_LOCKOUT_MAX_SECONDS", 3600)
    exponent = min(failures - limit, 32)  # 2**32 × any base is past any cap
    return max(0, min(cap, base * 2**exponent))


def signin_retry_after(request, username: str) -> int:
    """Seconds until this (username, client) or this client may try again; 0 when it may now."""
    keys = [f"{prefix}:until" for prefix, _ in _counters(request, username)]
    until = max((float(v) for v in cache.get_many(keys).values()), default=0.0)
    return max(0, math.ceil(until - time.time()))


def signin_failed(request, username: str) -> None:
    """Count one failure for the pair and for the client; lock whichever passed its limit."""
    window = _setting("MOLEXP_LOGIN_WINDOW_SECONDS", 300)
    now = time.time()
    for prefix, limit in _counters(request, username):
        count_key = f"{prefix}:count"
        # add + incr is atomic in every cache backend: concurrent failures are all counted.
        if cache.add(count_key, 1, timeout=window):
            failures = 1
        else:
            try:
                failures = cache.incr(count_key)
            except ValueError:  # expired between add and incr
                cache.add(count_key, 1, timeout=window)
                failures = 1
        lock = lockout_seconds(failures, limit)
        cache.touch(count_key, timeout=window + lock)
        if lock:
            cache.set(f"{prefix}:until", now + lock, timeout=lock + 1)


def signin_succeeded(request, username: str) -> None:
    """A correct password clears its (username, client) pair; the client's count stays."""
    prefix = _counters(request, username)[0][0]
    cache.delete_many([f"{prefix}:count", f"{prefix}:until"])


def signin_refused(request) -> int:
    """Seconds to wait if this request's sign-in was refused by the throttle, else 0."""
    return int(getattr(_http_request(request), RETRY_AFTER_ATTR, 0) or 0)


class ThrottledModelBackend(ModelBackend):
    """``ModelBackend`` that refuses locked (username, client) pairs and clients, and counts failures.

    A refusal raises ``PermissionDenied``, which makes ``authenticate()`` stop (no other
    backend is asked) and return ``None``; the request carries ``RETRY_AFTER_ATTR`` so the
    view can say why. Without a request (shell, management commands) nothing is counted.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        name = username if isinstance(username, str) else ""
        wait = signin_retry_after(request, name)
        if wait:
            setattr(_http_request(request), RETRY_AFTER_ATTR, wait)
            raise PermissionDenied(REFUSED)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            signin_failed(request, name)
        else:
            signin_succeeded(request, name)
        return user


class SigninThrottleMiddleware:
    """A page whose sign-in the backend refused answers 429 with ``Retry-After``, on any login path."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        wait = signin_refused(request)
        if wait:
            if response.status_code < 400:
                response.status_code = 429
                response.reason_phrase = "Too Many Requests"
            if response.status_code == 429 and not response.has_header("Retry-After"):
                response["Retry-After"] = str(wait)
        return response


class _RefusalMessageMixin:
    """An authentication form that names the throttle instead of "wrong password" when it refused."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if signin_refused(self.request):
                raise ValidationError(REFUSED, code="throttled") from None
            raise


class ThrottledAuthenticationForm(_RefusalMessageMixin, AuthenticationForm):
    """The login page's form."""


class ThrottledAdminAuthenticationForm(_RefusalMessageMixin, AdminAuthenticationForm):
    """``/admin/login/``'s form."""


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView with the refusal message (the backend refuses, the middleware sets 429)."""

    authentication_form = ThrottledAuthenticationForm


class SigninThrottled(exceptions.Throttled):
    default_detail = REFUSED


def token_signin_guard(request, authenticate: Callable[[], object]):
    """Run ``authenticate()`` (a serializer's validation) for the token endpoint: 429 when refused."""
    try:
        return authenticate()
    except exceptions.ValidationError:
        wait = signin_refused(request)
        if wait:
            raise SigninThrottled(wait=wait) from None
        raise
