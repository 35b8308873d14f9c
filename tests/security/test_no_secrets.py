"""No secrets in error pages or logs (SPEC §11).

With ``DEBUG`` off the 404 and 500 pages show no settings, URLconf or
traceback; the secret key, passwords and tokens never appear in the log output
captured during a failed login, a token request (good or bad) or a 500 — the
500s come from views that fail on purpose in ``tests/security/urls.py``.
``manage.py check --deploy`` with production settings is
``tests/test_settings_deploy.py`` (not repeated here).
"""

from __future__ import annotations

import logging

import pytest
from django.conf import settings as django_settings
from django.test import Client
from rest_framework.test import APIClient

from tests import factories as f

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"
WRONG = "Wr0ng-Pa55word-!xyz"
LEAK_MARKERS = ("Traceback", "SECRET_KEY", "DATABASES", "INSTALLED_APPS", "URLconf", "local-password-in-a-frame",
                "Request Method", "site-packages", "/work/", "Django Version")  # fmt: skip


@pytest.fixture
def user(db):
    return f.UserFactory(username="alice")


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture(autouse=True)
def _debug_off(settings):
    settings.DEBUG = False
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False


def _secrets(*extra: str) -> list[str]:
    return [django_settings.SECRET_KEY, PASSWORD, WRONG, *extra]


def _assert_clean(text: str, *extra: str) -> None:
    for secret in _secrets(*extra):
        assert secret not in text, f"a secret leaked: {secret[:6]}…"


def _all_output(logs, capfd) -> str:
    out, err = capfd.readouterr()
    return logs.text + out + err


@pytest.mark.parametrize(
    "url", ["/no-such-page/", "/w/no-such-ws/", "/assets/999999/download/", "/api/no-such-endpoint/", "/runs/0/"]
)
def test_404_pages_show_no_internals(user, url):
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 404
    body = response.content.decode()
    for marker in LEAK_MARKERS:
        assert marker not in body, marker
    _assert_clean(body)


@pytest.mark.parametrize("url", ["/test-only/boom/?key=query-secret-1", "/api/test-only/boom/?key=query-secret-1"])
def test_500_shows_no_traceback_and_logs_no_secrets(settings, user, logs, capfd, url):
    settings.ROOT_URLCONF = "tests.security.urls"
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.get(url, HTTP_X_API_KEY="header-token-secret")
    assert response.status_code == 500
    body = response.content.decode()
    for marker in LEAK_MARKERS:
        assert marker not in body, marker
    assert "exploded on purpose" not in body
    _assert_clean(body, "query-secret-1", "header-token-secret")
    output = _all_output(logs, capfd)
    assert "exploded on purpose" in output  # the error itself is logged, for the operator…
    _assert_clean(output, "header-token-secret", "local-password-in-a-frame")  # …without secrets


def test_api_500_on_a_post_logs_no_body(settings, user, logs, capfd):
    settings.ROOT_URLCONF = "tests.security.urls"
    client = APIClient(raise_request_exception=False)
    response = client.post("/api/test-only/boom/", {"token": "body-token-secret", "password": WRONG}, format="json")
    assert response.status_code == 500
    _assert_clean(response.content.decode(), "body-token-secret")
    _assert_clean(_all_output(logs, capfd), "body-token-secret")


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_failed_login_logs_no_password(user, logs, capfd, username):
    response = Client().post("/accounts/login/", {"username": username, "password": WRONG})
    assert response.status_code == 200
    assert WRONG not in response.content.decode()  # the form is not re-filled with the password
    _assert_clean(response.content.decode())
    _assert_clean(_all_output(logs, capfd))


def test_token_requests_log_no_password_or_token(user, logs, capfd):
    client = APIClient()
    bad = client.post("/api/auth/token/", {"username": "alice", "password": WRONG}, format="json")
    assert bad.status_code == 400
    assert WRONG not in bad.content.decode()
    good = client.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert good.status_code == 200
    token = good.json()["token"]
    used = APIClient()
    used.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert used.get("/api/no-such-thing/").status_code == 404
    assert used.get("/api/runs/999999/").status_code == 404
    _assert_clean(_all_output(logs, capfd), token)


def test_wrong_token_is_not_echoed(logs, capfd):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token made-up-token-secret")
    response = client.get("/api/workspaces/")
    assert response.status_code == 401
    _assert_clean(response.content.decode() + _all_output(logs, capfd), "made-up-token-secret")


def test_settings_keep_debug_off_and_no_secret_in_the_environment_default():
    """The default is DEBUG off; the check --deploy battery lives in tests/test_settings_deploy.py."""
    import tests.test_settings_deploy as deploy

    assert any(name.startswith("test_") and "deploy" in name for name in dir(deploy))
    assert django_settings.SESSION_COOKIE_HTTPONLY
    assert django_settings.SECURE_CONTENT_TYPE_NOSNIFF
