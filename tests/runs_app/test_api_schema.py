"""The OpenAPI schema validates without warnings, and the docs page serves its assets locally."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command


def test_schema_is_served(client, db):
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


def test_docs_page_uses_local_assets_only(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn." not in html and "unpkg.com" not in html and "jsdelivr" not in html
    local = re.findall(r"""["'](/static/drf_spectacular_sidecar/[^"']+)["']""", html)
    assert local, "the docs page should load swagger-ui from the sidecar's static files"
    for url in local:
        assert finders.find(url.removeprefix("/static/")), url


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_schema_and_docs_need_no_login(client, db, url):
    assert client.get(url).status_code == 200
