"""Playwright in Debian's Chromium against pytest-django's live server, with a real worker.

Playwright's sync API runs an event loop in the test thread, so Django's
async-safety guard must be told that this thread's ORM calls are synchronous.
"""

from __future__ import annotations

import os

import pytest

from tests.integration.conftest import celery_worker, wait_until  # noqa: F401 - shared fixtures

# Set at collection: the session-scoped Playwright loop starts before any function fixture.
# tests/test_settings_deploy.py drops it from its production-like subprocess environment.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="package")
def browser(launch_browser):
    """pytest-playwright's ``browser``, closed when this package's tests are done: an idle Chromium kept
    to the end of the session burns CPU the rest of the suite needs (≈ 0.8 % of a core, measured)."""
    browser = launch_browser()
    yield browser
    browser.close()
