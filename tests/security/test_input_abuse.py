"""Deeply nested bodies and huge headers on every route (issue 12, finding 8; SPEC §11), by class.

The routes come from the URLconf walk (``all_routes``), so a route added tomorrow is in the
battery the day it lands:

- every API route × POST/PUT/PATCH/DELETE with a 100 000-level JSON body (arrays and
  objects), and with one just past ``MOLEXP_JSON_MAX_DEPTH``: never a 5xx, and a 400 from
  every route that reads its body (``BODY_IGNORED`` lists the few that never read one);
- every page × POST with each of its form fields (read from the page itself) set to a
  100 000-level JSON text, and every route × GET with a 100 000-level search query;
- every route × GET/POST with huge and absurd headers, by family (ranges, tus, content
  negotiation, htmx, cookies and credentials, forwarding): never a 5xx;
- the reported cases exactly: a 100 000-level launch body → 400, ``Range: bytes=0-<5000
  digits>`` → 416 on both download paths.
"""

from __future__ import annotations

import base64
import re

import pytest
from django.test import Client

from .conftest import all_routes, build_url, fill_kwargs, reused_client

pytestmark = pytest.mark.django_db

DEEP = 100_000
DEEP_ARRAY = "[" * DEEP + "]" * DEEP
DEEP_OBJECT = '{"a":' * DEEP + "1" + "}" * DEEP
DIGITS = "9" * 5000
HUGE = "x" * 65_536

ROUTES = [r for r in all_routes() if r.name != "api-not-found"]
API_ROUTES = [r for r in ROUTES if r.is_api]
PAGE_ROUTES = [r for r in ROUTES if not r.is_api]

#: API routes that never read a request body, with the reason: a deep body cannot reach them.
#: DELETE into the trash and the purge take no body (SPEC §14); the routes' other verbs still read theirs.
DELETE_TAKES_NO_BODY = {"workspace-detail", "project-detail", "experiment-detail", "run-detail", "asset-detail",
                        "trash-detail"}  # fmt: skip
BODY_IGNORED = {
    "trash-restore": "restore takes no body",
    "run-cancel": "cancel takes no body",
    "run-rerun": "rerun takes no body",
    "run-resume": "resume takes no body",
    "run-reproduce": "reproduce takes no body",
    "workspace-member": "DELETE of a member takes no body",
    "scoped-token-detail": "DELETE of a scoped token takes no body",
    "external-heartbeat": "an external run's heartbeat takes no body",
    "tus-upload-detail": "tus PATCH bodies are bytes, not JSON",
    "tus-upload": "tus POST has no JSON body (its metadata is a header)",
}

#: Header families, each sent in its own request so that an early refusal of one cannot hide another.
HEADER_FAMILIES = {
    "range": {"HTTP_RANGE": f"bytes=0-{DIGITS}", "HTTP_IF_RANGE": HUGE},
    "range-suffix": {"HTTP_RANGE": f"bytes=-{DIGITS}"},
    "range-start": {"HTTP_RANGE": f"bytes={DIGITS}-"},
    "tus": {
        "HTTP_TUS_RESUMABLE": "1.0.0",
        "HTTP_UPLOAD_OFFSET": DIGITS,
        "HTTP_UPLOAD_LENGTH": DIGITS,
        "HTTP_UPLOAD_METADATA": "filename " + base64.b64encode(HUGE.encode()).decode() + ",x " + HUGE,
        "HTTP_UPLOAD_CHECKSUM": "sha256 " + HUGE,
        "HTTP_UPLOAD_DEFER_LENGTH": DIGITS,
    },
    "negotiation": {
        "HTTP_ACCEPT": "application/json;q=0." + DIGITS,
        "HTTP_ACCEPT_LANGUAGE": HUGE,
        "HTTP_ACCEPT_ENCODING": HUGE,
        "HTTP_IF_NONE_MATCH": HUGE,
        "HTTP_IF_MODIFIED_SINCE": HUGE,
        "HTTP_IF_MATCH": HUGE,
    },
    "htmx": {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": HUGE, "HTTP_HX_TARGET": HUGE, "HTTP_HX_TRIGGER": HUGE},
    "cookie": {"HTTP_COOKIE": "sessionid=" + HUGE + "; csrftoken=" + HUGE},
    "forwarding": {"HTTP_X_FORWARDED_FOR": HUGE, "HTTP_X_FORWARDED_PROTO": HUGE, "HTTP_REFERER": HUGE},
    "length": {"CONTENT_LENGTH": DIGITS},
}
CREDENTIALS = {
    "token": {"HTTP_AUTHORIZATION": "Token " + HUGE},
    "token-words": {"HTTP_AUTHORIZATION": "Token " + " ".join(["a"] * 5000)},
    "basic": {"HTTP_AUTHORIZATION": "Basic " + HUGE},
    "digits": {"HTTP_AUTHORIZATION": DIGITS},
}


def _owner(world, *, api: bool):
    """The owner's client, as fresh as a new one (conftest.reused_client): one per test, not one per request."""
    return reused_client(world, "owner", api=api)


# --- deeply nested bodies -------------------------------------------------------------------------


@pytest.mark.parametrize("route", API_ROUTES, ids=[r.id for r in API_ROUTES])
def test_every_api_route_refuses_a_deeply_nested_body(world, route, settings):
    url = build_url(route, fill_kwargs(route, world))
    just_past = "[" * (settings.MOLEXP_JSON_MAX_DEPTH + 1) + "]" * (settings.MOLEXP_JSON_MAX_DEPTH + 1)
    for verb in ("post", "put", "patch", "delete"):
        if verb == "delete" and route.name in DELETE_TAKES_NO_BODY:
            continue
        for body in (DEEP_ARRAY, DEEP_OBJECT, just_past, '{"params": ' + DEEP_ARRAY + "}"):
            client = _owner(world, api=True)
            response = getattr(client, verb)(url, data=body, content_type="application/json")
            where = f"{verb.upper()} {url} ({len(body)} bytes) → {response.status_code}"
            assert response.status_code < 500, where
            if response.status_code in (401, 403, 404, 405, 415) or route.name in BODY_IGNORED:
                continue  # 415: the route takes no JSON at all (the crate import is multipart)
            assert response.status_code == 400, where
            assert "JSON" in response.json()["detail"], where


def _form_fields(html: str) -> set[str]:
    names = set(re.findall(r"""<(?:input|textarea|select)\b[^>]*\bname=["']([^"']+)["']""", html))
    return names - {"csrfmiddlewaretoken"}


@pytest.mark.parametrize("route", PAGE_ROUTES, ids=[r.id for r in PAGE_ROUTES])
def test_every_page_form_field_and_query_survives_deep_json(world, route):
    url = build_url(route, fill_kwargs(route, world))
    client: Client = _owner(world, api=False)
    page = client.get(url)
    assert page.status_code < 500, (url, page.status_code)
    fields = (
        _form_fields(page.content.decode(errors="replace"))
        if page.get("Content-Type", "").startswith("text/html")
        else set()
    )
    for value in (DEEP_ARRAY, DEEP_OBJECT):
        data = {name: value for name in fields | {"params", "sweep", "overrides", "q", "action"}}
        response = _owner(world, api=False).post(url, data)
        assert response.status_code < 500, (url, sorted(fields), response.status_code)
    deep_query = _owner(world, api=False).get(url, {"q": "(" * DEEP, "runs": "," * DEEP, "status": DEEP_ARRAY})
    assert deep_query.status_code < 500, (url, deep_query.status_code)


def test_a_deeply_nested_launch_body_is_a_400(world):
    """Issue 12, finding 8, as reported (it was a 500)."""
    url = f"/api/experiments/{world.experiment.pk}/launch/"
    before = world.experiment.runs.count()
    response = _owner(world, api=True).post(url, data=DEEP_ARRAY, content_type="application/json")
    assert response.status_code == 400
    assert "nested more than" in response.json()["detail"]
    assert world.experiment.runs.count() == before


def test_a_deep_json_params_field_is_a_form_error(world):
    url = f"/w/{world.ws.slug}/p/{world.project.slug}/e/{world.experiment.slug}/launch/"
    response = _owner(world, api=False).post(url, {"profile": "", "overrides": "", "params": DEEP_OBJECT})
    assert response.status_code in (200, 400)
    assert b"nested more than" in response.content


# --- huge headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=[r.id for r in ROUTES])
def test_every_route_survives_huge_headers(world, route):
    url = build_url(route, fill_kwargs(route, world))
    for family, headers in HEADER_FAMILIES.items():
        for verb in ("get", "post", "patch"):
            client = _owner(world, api=route.is_api)
            response = getattr(client, verb)(url, **headers)
            assert response.status_code < 500, f"{family}: {verb.upper()} {url} → {response.status_code}"
    for family, headers in CREDENTIALS.items():
        response = reused_client(world, "anonymous", api=route.is_api).get(url, **headers)  # a fresh, anonymous one
        assert response.status_code < 500, f"{family}: GET {url} → {response.status_code}"
        assert response.status_code not in (200, 201, 204) or route.name in (
            "login",
            "logout",
            "api-token",
            "healthz",  # public: answers without credentials (anonymous detail only)
            "metrics",  # loopback (the test client) without a token; a token is checked in test_ops_endpoints.py
        ), f"{family}: junk credentials were accepted on {url}"


@pytest.mark.parametrize("where", ["page", "api"])
@pytest.mark.parametrize(
    "spec", [f"bytes=0-{DIGITS}", f"bytes={DIGITS}-", f"bytes=-{DIGITS}", f"bytes={DIGITS}-{DIGITS}"]
)
def test_a_range_with_thousands_of_digits_is_a_416(world, where, spec):
    asset = world.assets["data"]
    if where == "page":
        response = _owner(world, api=False).get(f"/assets/{asset.pk}/download/", HTTP_RANGE=spec)
    else:
        response = _owner(world, api=True).get(f"/api/assets/{asset.pk}/content/", HTTP_RANGE=spec)
    assert response.status_code == 416, response.status_code
    assert response["Content-Range"] == f"bytes */{asset.size}"
