"""Sign-in throttling (molexp_site/throttle.py): the login page and POST /api/auth/token/.

Ten failed sign-ins for one username (from any client), or thirty from one
client (any usernames), within five minutes: further attempts are refused with
429 before the password is checked — the same answer for an existing user, a
nonexistent one and a correct password.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests import factories as f

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"


@pytest.fixture
def victim(db):
    return f.UserFactory(username="victim")


def login(username: str, password: str, addr: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=addr).post("/accounts/login/", {"username": username, "password": password})


def token(username: str, password: str, addr: str = "10.0.0.1"):
    return APIClient(REMOTE_ADDR=addr).post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )


def _page(response, username: str) -> str:
    """The page without the echoed username and the per-response CSRF token."""
    text = response.content.decode().replace(username, "")
    return re.sub(r"[A-Za-z0-9]{64}", "", text)  # CSRF tokens (form field and htmx header)


def _fail_times(fn, n: int, username: str, *, spread: bool = False) -> None:
    for i in range(n):
        response = fn(username, "wrong", addr=f"10.0.1.{i}" if spread else "10.0.0.1")
        assert response.status_code in (200, 400), response.status_code


@pytest.mark.parametrize("spread", [False, True], ids=["one-client", "many-clients"])
def test_login_page_locks_a_username_after_ten_failures(victim, spread):
    _fail_times(login, 10, "victim", spread=spread)
    blocked = login("victim", PASSWORD, addr="10.0.9.9")  # even the right password, from a new client
    assert blocked.status_code == 429
    assert b"Too many failed sign-in attempts" in blocked.content
    assert "_auth_user_id" not in blocked.wsgi_request.session


def test_nine_failures_still_let_the_right_password_in(victim):
    _fail_times(login, 9, "victim")
    response = login("victim", PASSWORD)
    assert response.status_code == 302
    # …and success clears the count.
    _fail_times(login, 9, "victim")
    assert login("victim", PASSWORD).status_code == 302


def test_the_lock_does_not_reveal_whether_a_user_exists(victim):
    _fail_times(login, 10, "victim")
    _fail_times(login, 10, "nobody-here")
    known, unknown = login("victim", "x", addr="10.0.2.1"), login("nobody-here", "x", addr="10.0.2.2")
    assert known.status_code == unknown.status_code == 429
    assert _page(known, "victim") == _page(unknown, "nobody-here")
    # Before the lock, failures for both look alike too (the standard form error).
    a, b = login("other-victim", "x", addr="10.0.3.1"), login("ghost", "x", addr="10.0.3.2")
    assert a.status_code == b.status_code == 200


def test_one_client_is_refused_after_thirty_failures_across_usernames(victim):
    for i in range(30):
        assert login(f"guess{i}", "wrong", addr="10.9.9.9").status_code == 200
    assert login("victim", PASSWORD, addr="10.9.9.9").status_code == 429
    # Another client is unaffected.
    assert login("victim", PASSWORD, addr="10.9.9.8").status_code == 302


def test_the_lock_expires_after_the_window(victim, settings, monkeypatch):
    from django.core.cache import cache

    _fail_times(login, 10, "victim")
    assert login("victim", PASSWORD).status_code == 429
    cache.clear()  # the window's end: the cache entries time out
    assert login("victim", PASSWORD).status_code == 302


@pytest.mark.parametrize("spread", [False, True], ids=["one-client", "many-clients"])
def test_token_endpoint_locks_a_username_after_ten_failures(victim, spread):
    _fail_times(token, 10, "victim", spread=spread)
    response = token("victim", PASSWORD, addr="10.0.8.8")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.json()["detail"]
    assert "token" not in response.json()


def test_token_endpoint_and_login_page_share_the_count(victim):
    _fail_times(token, 5, "victim")
    _fail_times(login, 5, "victim")
    assert token("victim", PASSWORD).status_code == 429
    assert login("victim", PASSWORD).status_code == 429


def test_token_endpoint_has_a_per_client_request_rate(victim, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth-token": "3/min"}}
    from rest_framework.settings import api_settings
    from rest_framework.throttling import ScopedRateThrottle

    # DRF reads the rates once at import time; point the class at the new ones for this test.
    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = {"auth-token": "3/min"}
    try:
        codes = [token("victim", PASSWORD, addr="10.7.7.7").status_code for _ in range(4)]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
        api_settings.reload()
    assert codes == [200, 200, 200, 429]


def test_the_token_endpoint_is_throttled_with_scoped_rate_throttle():
    from rest_framework.throttling import ScopedRateThrottle

    from runs_app.api.views import TokenCreateView

    assert ScopedRateThrottle in TokenCreateView.throttle_classes
    assert TokenCreateView.throttle_scope == "auth-token"
