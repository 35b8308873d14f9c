"""Shared fixtures: the four roles of SPEC §3 on one workspace, plus anonymous and staff.

``ws`` has ``owner``, ``editor`` and ``viewer`` as members; ``outsider`` is a
signed-in user of another workspace (``other_ws``); ``staff`` sees everything.
"""

from __future__ import annotations

from collections import Counter

import pytest
from rest_framework.test import APIClient

from runs_app.choices import Role

from . import factories as f

# A real S3 API server (moto) and a bucket for the scale-out tests: ``moto_server``, ``s3_bucket``.
pytest_plugins = ["tests.s3_support"]

ROLES = ("owner", "editor", "viewer", "outsider", "anonymous")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Every test gets a node id of its own.

    schemathesis names the tests it generates by operation (``test_api_conforms_to_its_schema[GET
    /api/assets/]``) but gives them all the function's node id; pytest-xdist (``make test``)
    schedules and reports by node id, so it would run one of the 72 and count the rest as done.
    A duplicate left over stops the session instead of silently shrinking the suite.
    """
    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.name != item.nodeid.rsplit("::", 1)[-1]:
            item._id = item.parent.id.child(item.name)  # pytest 9: the node id is ``_id`` (a NodeId)
    duplicates = [nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1]
    if duplicates:
        raise pytest.UsageError(f"{len(duplicates)} node ids name several tests, e.g. {duplicates[0]}")


@pytest.fixture(scope="session")
def _workflow_dir_path(tmp_path_factory):
    """Where ``tests/runs_app/conftest.py``'s ``workflow_dir`` writes its folder: one path per
    session (here, not there: other packages import ``workflow_dir`` from that module)."""
    return tmp_path_factory.mktemp("shared") / "workflows"


@pytest.fixture(autouse=True)
def _private_cache(settings):
    """Each test gets an empty in-memory cache (sign-in counters, throttles), never one from a previous test or run."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _no_term_statistics():
    """The catalog's word statistics (``assets_app.search.term_stats``) are a per-process cache of
    ``pg_stats``: each test starts with none known, so its statements do not depend on the tests
    before it. Tests of the statistics call ``term_stats.forget()``."""
    from assets_app.search import term_stats

    term_stats.assume({})
    yield
    term_stats.assume({})


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """PBKDF2 is slow on purpose; tests hash many passwords and do not test hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owner(db):
    return f.UserFactory(username="owner")


@pytest.fixture
def editor(db):
    return f.UserFactory(username="editor")


@pytest.fixture
def viewer(db):
    return f.UserFactory(username="viewer")


@pytest.fixture
def outsider(db):
    return f.UserFactory(username="outsider")


@pytest.fixture
def staff(db):
    return f.UserFactory(username="staff", is_staff=True)


@pytest.fixture
def ws(owner, editor, viewer):
    workspace = f.WorkspaceFactory(name="Lab", slug="lab")
    f.MembershipFactory(workspace=workspace, user=owner, role=Role.OWNER)
    f.MembershipFactory(workspace=workspace, user=editor, role=Role.EDITOR)
    f.MembershipFactory(workspace=workspace, user=viewer, role=Role.VIEWER)
    return workspace


@pytest.fixture
def other_ws(outsider):
    workspace = f.WorkspaceFactory(name="Elsewhere", slug="elsewhere")
    f.MembershipFactory(workspace=workspace, user=outsider, role=Role.OWNER)
    return workspace


@pytest.fixture
def project(ws):
    return f.ProjectFactory(workspace=ws, name="QM9", slug="qm9")


@pytest.fixture
def experiment(project):
    return f.ExperimentFactory(project=project, name="Baseline", slug="baseline")


@pytest.fixture
def run(experiment):
    return f.RunFactory(experiment=experiment, number=1)


@pytest.fixture
def users(owner, editor, viewer, outsider, other_ws):
    """Role name → user (None for anonymous)."""
    return {"owner": owner, "editor": editor, "viewer": viewer, "outsider": outsider, "anonymous": None}


@pytest.fixture
def api_client_for(users):
    """Build an APIClient authenticated as the named role (token auth)."""

    def make(role: str) -> APIClient:
        client = APIClient()
        user = users[role]
        if user is not None:
            client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture
def web_client_for(users, client):
    """Build a Django test client logged in as the named role."""
    from django.test import Client

    def make(role: str) -> Client:
        c = Client()
        user = users[role]
        if user is not None:
            c.force_login(user)
        return c

    return make


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Pages render ``{% static %}``; tests run without ``collectstatic``, so skip the manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
