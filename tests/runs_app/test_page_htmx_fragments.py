"""htmx requests get the fragment only; plain requests get the full page; filters work without JS."""

from __future__ import annotations

import pytest

from runs_app.choices import RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
EXP = "/w/lab/p/qm9/e/baseline/"


@pytest.fixture
def runs(experiment):
    return [
        f.RunFactory(experiment=experiment, status=RunStatus.SUCCEEDED, profile="fast-profile"),
        f.RunFactory(experiment=experiment, status=RunStatus.FAILED, profile="broken-profile"),
    ]


def test_experiment_page_is_full_html_without_htmx(web_client_for, runs):
    body = web_client_for("viewer").get(EXP).content.decode()
    assert "<html" in body
    assert 'id="run-table"' in body
    assert 'hx-target="#run-table"' in body and 'hx-push-url="true"' in body


def test_experiment_filter_returns_only_the_table_fragment_for_htmx(web_client_for, runs):
    response = web_client_for("viewer").get(EXP + "?status=failed", **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and '<nav class="navbar' not in body
    assert body.lstrip().startswith('<div id="run-table">')
    assert "broken-profile" in body
    assert "fast-profile" not in body


def test_experiment_filter_works_without_js(web_client_for, runs):
    body = web_client_for("viewer").get(EXP + "?status=succeeded").content.decode()
    assert "<html" in body
    assert "fast-profile" in body
    assert "broken-profile" not in body


def test_experiment_runs_table_is_paginated(web_client_for, experiment):
    for _ in range(30):
        f.RunFactory(experiment=experiment)
    client = web_client_for("viewer")
    first = client.get(EXP)
    assert len(first.context["page"].object_list) == 25
    second = client.get(EXP + "?page=2", **HTMX)
    assert len(second.context["page"].object_list) == 5


def test_catalog_returns_table_fragment_for_htmx(web_client_for, ws):
    f.AssetFactory(workspace=ws, name="fragment.csv")
    body = web_client_for("viewer").get("/catalog/", **HTMX).content.decode()
    assert body.lstrip().startswith('<div id="asset-table">')
    assert "fragment.csv" in body
    assert "<html" not in body


def test_htmx_form_post_answers_with_client_redirect(web_client_for, ws):
    response = web_client_for("editor").post("/w/lab/p/new/", {"name": "Docking"}, **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/w/lab/p/docking/"


def test_base_page_loads_vendored_htmx_and_sends_csrf_header(web_client_for, ws):
    body = web_client_for("viewer").get("/").content.decode()
    assert "vendor/htmx-2.0.11/htmx.min.js" in body
    assert 'hx-headers=\'{"x-csrftoken": "' in body
    assert "//cdn" not in body and "https://" not in body
