"""The catalog page: live search box (htmx), facets that add filters, trace groups, sort,
and the malformed-query message with the bad token highlighted; works as a plain GET form."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.utils.html import escape

from . import search_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(ws, project, experiment, other_ws, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(tmp_path)}},
    }
    return search_data.build(ws, project, experiment, other_ws)


def test_page_has_live_search_box(web_client_for, data):
    html = web_client_for("viewer").get("/catalog/").content.decode()
    assert 'hx-trigger="input changed delay:300ms, search"' in html
    assert 'hx-push-url="true"' in html
    assert 'method="get"' in html and 'name="q"' in html and 'name="sort"' in html
    assert "Search syntax" in html


def test_search_results_facets_and_trace_groups(web_client_for, data):
    assets, _ = data
    response = web_client_for("viewer").get("/catalog/", {"q": 'kind:error_trace "CUDA out of memory"'})
    assert {a.pk for a in response.context["page"].rows} == {assets["t_base"].pk, assets["t_md"].pk}
    html = response.content.decode()
    assert 'id="catalog-facets"' in html and 'id="trace-groups"' in html
    facets = response.context["facets"]
    qm9 = next(p for p in facets["project"] if p["slug"] == "qm9")
    assert qm9["q"] == f'kind:error_trace "CUDA out of memory" project:{qm9["id"]}'
    link = f"?q={qm9['q']}"
    assert parse_qs(urlparse(link).query)["q"][0] == qm9["q"]
    assert response.context["trace_groups"][0]["count"] == 2


def test_htmx_request_renders_the_fragment(web_client_for, data):
    client = web_client_for("viewer")
    response = client.get("/catalog/", {"q": "ckpt"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="catalog-results")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="catalog-results">')
    assert "<html" not in html and 'id="catalog-facets"' in html
    table = client.get("/catalog/", {"q": "ckpt"}, HTTP_HX_REQUEST="true").content.decode()
    assert table.lstrip().startswith('<div id="asset-table">')


def test_malformed_query_shows_message_and_highlights_token(web_client_for, data):
    response = web_client_for("viewer").get("/catalog/", {"q": "kind:log colour:red"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unknown filter" in html and "at position 9" in html
    assert f'<mark class="bg-danger text-white">{escape("colour:red")}</mark>' in html
    assert response.context["error"]["token"] == "colour:red"


def test_outsider_page_never_shows_lab(web_client_for, data):
    response = web_client_for("outsider").get("/catalog/", {"q": "CUDA"})
    assets, _ = data
    assert [a.pk for a in response.context["page"].rows] == [assets["t_other"].pk]
    assert sum(f["count"] for f in response.context["facets"]["kind"]) == 1
