"""CSRF on every form and htmx action, enumerated from the URLconf (SPEC §11).

Every page route, POSTed by a signed-in user through ``Client(enforce_csrf_checks=True)``:
without a token the CSRF middleware refuses it (403, Django's CSRF failure);
with a valid token a route that takes POST works for an editor (owner for
owner-only routes) — 2xx or a redirect — and a route that does not take POST
answers 405. htmx actions (``HX-Request``) are held to the same rule, and the
API refuses a session-authenticated unsafe request without the token.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from .conftest import all_routes, build_url, fill_kwargs
from .test_url_matrix import BODIES

PAGE_ROUTES = [r for r in all_routes() if not r.is_api]
# The schema and docs views are read-only and public (their 403 is an HTML page without a detail).
API_ROUTES = [
    r for r in all_routes() if r.is_api and r.name not in ("api-not-found", "api-token", "api-schema", "api-docs")
]
CSRF_FAILED = b"CSRF"


def _csrf_client(world, actor: str) -> tuple[Client, str]:
    """A browser signed in as ``actor`` (the world's session of the actor, made by ``force_login``: a
    fresh sign-in per client was a third of this file's time) that checks CSRF, with its token."""
    client = Client(enforce_csrf_checks=True)
    client.cookies[settings.SESSION_COOKIE_NAME] = world.extra["sessions"][actor]
    client.get("/accounts/login/")  # sets the csrftoken cookie
    return client, client.cookies["csrftoken"].value


def test_every_page_route_is_enumerated():
    names = {r.name for r in PAGE_ROUTES}
    assert {"runs:run-cancel", "runs:run-launch", "runs:workspace-members", "runs:api-token", "logout"} <= names


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
@pytest.mark.parametrize("route", PAGE_ROUTES, ids=lambda r: r.id)
def test_post_without_token_is_refused_and_with_token_works(world, route, htmx):
    url = build_url(route, fill_kwargs(route, world))
    body = BODIES.get(route.name, lambda w: {})(world)
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    client, token = _csrf_client(world, "editor")
    refused = client.post(url, body, **extra)
    assert refused.status_code == 403, (url, refused.status_code)
    assert CSRF_FAILED in refused.content

    response = client.post(url, {**body, "csrfmiddlewaretoken": token}, **extra)
    if response.status_code == 403 and CSRF_FAILED not in response.content:  # owner-only route
        client, token = _csrf_client(world, "owner")
        response = client.post(url, {**body, "csrfmiddlewaretoken": token}, **extra)
    assert CSRF_FAILED not in response.content or response.status_code != 403, url
    if route.name == "login":  # already signed in: the form is shown again, never a CSRF failure
        assert response.status_code in (200, 302)
        return
    if route.name in BODIES:  # a known write with a valid body: it goes through
        assert response.status_code < 400 or response.status_code == 409, (url, response.status_code)
    else:  # any other route: reached the view (a form error, 405 or a conflict is fine), never a 5xx
        assert response.status_code < 500, (url, response.status_code)


def test_token_in_header_works_for_htmx(world):
    """htmx sends the token as X-CSRFToken (hx-headers on <body>), not in the form."""
    client, token = _csrf_client(world, "editor")
    url = f"/runs/{world.run.pk}/rerun/"
    assert client.post(url, HTTP_HX_REQUEST="true").status_code == 403
    response = client.post(url, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert response.status_code < 400, response.status_code


def test_login_form_itself_needs_the_token(world):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/login/", {"username": "owner", "password": "pw-for-tests-1"}).status_code == 403
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/accounts/login/", {"username": "owner", "password": "pw-for-tests-1", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302


@pytest.mark.parametrize("verb", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("route", API_ROUTES, ids=lambda r: r.id)
def test_api_with_session_auth_needs_the_token(world, route, verb):
    """A browser session calling the API (no Authorization header) must send X-CSRFToken on writes."""
    url = build_url(route, fill_kwargs(route, world))
    client, token = _csrf_client(world, "owner")
    headers = {"HTTP_TUS_RESUMABLE": "1.0.0"}
    refused = getattr(client, verb)(url, "{}", content_type="application/json", **headers)
    # 415: a view that only parses multipart refuses the JSON body before the CSRF check reads it.
    assert refused.status_code in (403, 405, 415), (url, refused.status_code)
    if refused.status_code == 403:
        assert b"CSRF" in refused.content
    accepted = getattr(client, verb)(url, "{}", content_type="application/json", HTTP_X_CSRFTOKEN=token, **headers)
    assert accepted.status_code < 500
    if accepted.status_code == 403:
        assert b"CSRF" not in accepted.content
