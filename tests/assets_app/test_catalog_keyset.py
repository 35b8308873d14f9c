"""Catalog browse pages by keyset cursor (SPEC §11): /api/assets/ and /catalog/ without free words
walk every visible asset once in the sort's order, forwards and backwards; bad cursors are 400;
ranked results keep page numbers; scoping holds; a page costs the same queries at any size or depth."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assets_app.models import Asset
from tests import factories as f

pytestmark = pytest.mark.django_db

MAX_QUERIES = 6
HTMX = {"HTTP_HX_REQUEST": "true"}


def _make_assets(ws, n: int, *, start: int = 0) -> list[Asset]:
    """``n`` assets; names repeat (versions differ) and created_at ties in threes, not in id order."""
    rows = []
    base = timezone.now() - timedelta(days=2)
    for i in range(start, start + n):
        asset = f.AssetFactory(workspace=ws, name=f"set-{i % 4}.csv", version=i + 1, size=(i * 37) % 5)
        asset.created_at = base + timedelta(minutes=((i // 3) * 5) % 7)
        Asset.objects.filter(pk=asset.pk).update(created_at=asset.created_at)
        rows.append(asset)
    return rows


ORDER = {
    "relevance": lambda a: (-a.pk,),
    "newest": lambda a: (-a.created_at.timestamp(), -a.pk),
    "oldest": lambda a: (a.created_at.timestamp(), a.pk),
    "name": lambda a: (a.name, -a.version, a.pk),
    "size": lambda a: (-a.size, -a.pk),
}


def _walk(client, url):
    pages, bodies = [], []
    while url:
        body = client.get(url).json()
        pages.append([r["id"] for r in body["results"]])
        bodies.append(body)
        url = body["next"]
        assert len(pages) < 100
    return pages, bodies


@pytest.mark.parametrize("sort", list(ORDER))
def test_browse_walks_every_asset_once_in_the_sort_order(api_client_for, ws, sort):
    assets = _make_assets(ws, 14)
    pages, bodies = _walk(api_client_for("viewer"), f"/api/assets/?page_size=4&sort={sort}")
    assert [pk for page in pages for pk in page] == [a.pk for a in sorted(assets, key=ORDER[sort])]
    assert all("cursor=" in b["next"] and "page=" not in b["next"] for b in bodies[:-1])
    assert all(b["ranked"] is False and b["count"] == 14 for b in bodies)
    # and back again
    backward, url = [], bodies[-1]["previous"]
    while url:
        body = api_client_for("viewer").get(url).json()
        backward.append([r["id"] for r in body["results"]])
        url = body["previous"]
    assert backward == pages[-2::-1]


def test_unranked_query_pages_by_cursor_too(api_client_for, ws):
    assets = _make_assets(ws, 12)
    pages, bodies = _walk(api_client_for("viewer"), "/api/assets/?q=name:set-1.csv&page_size=2")
    assert [pk for page in pages for pk in page] == sorted(
        (a.pk for a in assets if a.name == "set-1.csv"), reverse=True
    )
    assert bodies[0]["next"] and "cursor=" in bodies[0]["next"]


def test_ranked_results_keep_page_numbers_and_refuse_cursors(api_client_for, ws):
    for i in range(3):
        f.AssetFactory(workspace=ws, name=f"alpha-{i}.csv", search_text=f"alpha-{i}.csv alpha")
    client = api_client_for("viewer")
    body = client.get("/api/assets/?q=alpha&page_size=1").json()
    assert body["ranked"] is True and body["count"] == 3
    assert "page=2" in body["next"] and "cursor=" not in body["next"]
    browse = client.get("/api/assets/?page_size=1").json()
    cursor = parse_qs(urlsplit(browse["next"]).query)["cursor"][0]
    response = client.get("/api/assets/", {"q": "alpha", "cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()["detail"]


@pytest.mark.parametrize("cursor", ["garbage", "e30", "x" * 3000, "eyJkIjoibiIsIm8iOiJ6eiIsImsiOltdfQ"])
def test_bad_cursor_is_json_400(api_client_for, web_client_for, ws, cursor):
    _make_assets(ws, 3)
    response = api_client_for("viewer").get("/api/assets/", {"cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()["detail"].lower()
    page = web_client_for("viewer").get("/catalog/", {"cursor": cursor})
    assert page.status_code == 200 and "This cursor is not valid" in page.content.decode()


def test_cursor_of_another_sort_is_400(api_client_for, ws):
    _make_assets(ws, 5)
    client = api_client_for("viewer")
    link = client.get("/api/assets/?page_size=2&sort=name").json()["next"]
    cursor = parse_qs(urlsplit(link).query)["cursor"][0]
    assert client.get("/api/assets/", {"cursor": cursor, "sort": "size"}).status_code == 400


def test_outsider_sees_nothing_and_counts_do_not_leak(api_client_for, ws, other_ws):
    _make_assets(ws, 6)
    theirs = f.AssetFactory(workspace=other_ws, name="theirs.csv")
    owner_next = api_client_for("owner").get("/api/assets/?page_size=2").json()["next"]
    outsider = api_client_for("outsider")
    body = outsider.get("/api/assets/?page_size=2").json()
    assert body["count"] == 1 and [r["id"] for r in body["results"]] == [theirs.pk] and body["next"] is None
    followed = outsider.get(owner_next.replace("page_size=2", "page_size=50")).json()
    assert {r["id"] for r in followed["results"]} <= {theirs.pk} and followed["count"] == 1


def _queries(client, url, **extra):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **extra)
    assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries), response


def test_api_query_count_is_constant_whatever_the_page_size_or_depth(api_client_for, ws):
    client = api_client_for("viewer")
    _make_assets(ws, 3)
    small, _ = _queries(client, "/api/assets/?page_size=2")
    _make_assets(ws, 110, start=3)
    big, response = _queries(client, "/api/assets/?page_size=100")
    url = "/api/assets/?page_size=5&kind=data"
    for _ in range(10):
        url = client.get(url).json()["next"]
    deep, deep_response = _queries(client, url)
    named, _ = _queries(client, url.replace("kind=data", "sort=name").split("cursor=")[0] + "x=1")
    assert len(response.json()["results"]) == 100 and len(deep_response.json()["results"]) == 5
    assert small == big == deep == named <= MAX_QUERIES


def test_catalog_page_walks_and_costs_the_same_queries_at_any_depth(web_client_for, ws):
    client = web_client_for("viewer")
    assets = _make_assets(ws, 3)
    small, _ = _queries(client, "/catalog/", HTTP_HX_TARGET="catalog-results", **HTMX)
    assets += _make_assets(ws, 57, start=3)
    big, response = _queries(client, "/catalog/", HTTP_HX_TARGET="catalog-results", **HTMX)
    seen, page = [], response.context["page"]
    while True:
        seen += [a.pk for a in page.rows]
        if not page.has_next:
            break
        assert f"cursor={page.next_cursor}" in response.content.decode()
        n, response = _queries(client, f"/catalog/?cursor={page.next_cursor}", HTTP_HX_TARGET="catalog-results", **HTMX)
        assert n == big
        page = response.context["page"]
    assert seen == sorted((a.pk for a in assets), reverse=True)
    full, _ = _queries(client, f"/catalog/?cursor={page.previous_cursor}")
    assert small == big == full <= MAX_QUERIES
