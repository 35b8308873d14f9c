"""Production settings pass ``check --deploy``; a malformed variable stops start-up loudly."""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys

from django.conf import settings

PRODUCTION_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"


def _manage(args: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    # The test session's own switches (a database, a broker, the browser tests' async guard) are not production's.
    dropped = {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**base, "MOLEXP_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production_env() -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits + "!@#$%^&*(-_=+)"
    database_url = os.environ.get("MOLEXP_TEST_DATABASE_URL") or PRODUCTION_DATABASE_URL
    return {
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "molexp.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://molexp.example.org",
        "SESSION_COOKIE_SECURE": "1",
        "CSRF_COOKIE_SECURE": "1",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "1",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    }


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], _production_env(), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in result.stdout, output


def test_bad_boolean_fails_loudly(tmp_path):
    env = {**_production_env(), "DEBUG": "maybe"}
    result = _manage(["check"], env, tmp_path)
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_bad_integer_fails_loudly(tmp_path):
    env = {**_production_env(), "SECURE_HSTS_SECONDS": "a year"}
    result = _manage(["check"], env, tmp_path)
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS='a year' is not an integer" in result.stderr
