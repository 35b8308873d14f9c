"""schemathesis over ``/api/schema/`` (SPEC §9, §11): no 5xx and no response outside the schema.

The schema is read from the WSGI application itself, so every documented
operation — including ones added tomorrow — is exercised. Each operation gets
a bounded, deterministic set of generated requests (``max_examples=10``,
derandomized), sent in-process through the WSGI app as the ``lab`` editor with
a token, against the security battery's fixture world (so ids 1, 2, … often
name real rows). Checks: ``not_a_server_error`` and
``response_schema_conformance``. The tus endpoint is not in the schema (its
own protocol, tested in test_upload_abuse.py and tests/assets_app).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.test import override_settings
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from molexp_site.wsgi import application

# The schema needs sign-in (MOLEXP_API_DOCS_PUBLIC off); it is read once here, before any user exists.
with override_settings(MOLEXP_API_DOCS_PUBLIC=True):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def editor_token(world) -> str:
    return Token.objects.create(user=world.users["editor"]).key


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler closes the database connection after each request; the test's transaction needs it.

    Django's test client does the same (it disconnects ``close_old_connections``).
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case, editor_token):
    case.call_and_validate(headers={"Authorization": f"Token {editor_token}"}, checks=CHECKS)
