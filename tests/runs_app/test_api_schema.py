"""The OpenAPI schema validates without warnings, the docs page serves its assets locally, and both
need sign-in unless MOLEXP_API_DOCS_PUBLIC is on (issue 12: they were readable signed out)."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command


def test_schema_is_served(client, owner):
    client.force_login(owner)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/auth/token/",
        "/api/workspaces/",
        "/api/workspaces/{workspace_pk}/members/",
        "/api/projects/",
        "/api/experiments/",
        "/api/runs/",
        "/api/runs/{id}/history/",
        "/api/assets/",
        "/api/assets/{id}/",
    ):
        assert path in paths


def test_schema_generation_validates_without_warnings(tmp_path, db):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").stat().st_size > 1000


def test_docs_page_uses_local_assets_only(client, owner):
    client.force_login(owner)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    # Its settings script is a file too (no inline script under the page's CSP).
    script = re.search(r'<script src="(/api/docs/\?script[^"]*)"', html)
    assert script and client.get(script.group(1).replace("&amp;", "&")).status_code == 200
    assert "cdn." not in html and "unpkg.com" not in html and "jsdelivr" not in html
    local = re.findall(r"""["'](/static/drf_spectacular_sidecar/[^"']+)["']""", html)
    assert local, "the docs page should load swagger-ui from the sidecar's static files"
    for url in local:
        assert finders.find(url.removeprefix("/static/")), url


def test_docs_page_links_home_and_every_page_has_the_favicon(client, owner):
    client.force_login(owner)
    docs = client.get("/api/docs/").content.decode()
    assert '<a href="/" id="docs-home">' in docs
    for html in (
        docs,
        client.get("/").content.decode(),
        client.get("/api/runs/", HTTP_ACCEPT="text/html").content.decode(),
    ):
        assert 'rel="icon" href="/static/img/favicon.svg"' in html
    assert finders.find("img/favicon.svg")


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/", "/api/docs/?script="])
def test_schema_and_docs_need_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 401
    assert b"openapi" not in response.content and b"/api/workspaces/" not in response.content


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_schema_and_docs_accept_a_token(client, viewer, url):
    from rest_framework.authtoken.models import Token

    key = Token.objects.create(user=viewer).key
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_schema_and_docs_can_be_made_public(client, db, settings, url):
    settings.MOLEXP_API_DOCS_PUBLIC = True
    assert client.get(url).status_code == 200
