"""A search page whose read reached the end of the result takes its count from that read, with no
``COUNT`` query (``AssetSearch._saw_all``): an unranked page that came back short, a ranked page
whose candidates were fewer than ``RANK_CAP`` (SQLite) or, on PostgreSQL, whose listed candidate ids
(up to ``COUNT_CAP + 1`` over the whole set) showed the count. Every count equals the ``COUNT`` query's;
a read that could not show the end (a full page, as many candidates as the cap) still counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets_app.choices import AssetKind
from assets_app.search import engine
from assets_app.selectors import asset_search
from assets_app.services import asset_create
from tests import factories as f

pytestmark = pytest.mark.django_db


def _counts(ctx) -> int:
    # the capped count's statement
    return sum(q["sql"].startswith("SELECT COUNT(*)") for q in ctx.captured_queries)


def _page(user, q, number, size, **kw):
    with CaptureQueriesContext(connection) as ctx:
        page = asset_search(user=user, q=q, **kw).page(number, size)
    return page, _counts(ctx)


def _truth(user, q, **kw) -> int:
    search = asset_search(user=user, q=q, **kw)
    return search.matching.order_by().values("pk")[: engine.COUNT_CAP + 1].count()


@pytest.fixture
def assets(experiment, viewer):
    run = f.RunFactory(experiment=experiment)
    for i in range(7):
        asset_create(kind=AssetKind.ARTIFACT, name=f"alpha-{i}.bin", run=run, tags=["alpha"])
    for i in range(3):
        asset_create(kind=AssetKind.ARTIFACT, name=f"beta-{i}.bin", run=run, tags=["beta"])
    return viewer


@pytest.mark.parametrize(
    ("q", "sort"),
    [("alpha", "relevance"), ("alpha", "newest"), ("kind:artifact", "relevance"), ("tag:beta", "name")],
)
def test_a_short_read_is_the_count(assets, q, sort):
    page, counts = _page(assets, q, 1, 50, sort=sort)
    assert counts == 0
    assert (page.count, page.count_capped) == (_truth(assets, q, sort=sort), False)
    assert page.count == len(page.rows) > 0


def test_a_short_last_page_is_the_count(assets):
    page, counts = _page(assets, "kind:artifact", 3, 4, sort="name")  # rows 9-10 of 10
    assert (counts, page.count, len(page.rows)) == (0, 10, 2)


@pytest.mark.parametrize(("number", "size", "sort"), [(1, 5, "name"), (9, 5, "name"), (1, 5, "newest")])
def test_a_full_page_or_a_page_past_the_end_still_counts(assets, number, size, sort):
    page, counts = _page(assets, "kind:artifact", number, size, sort=sort)
    assert counts == 1
    assert page.count == 10


def test_ranked_candidates_at_the_cap_still_count(assets, monkeypatch):
    monkeypatch.setattr(engine, "RANK_CAP", 7)  # "alpha" has 7 hits: as many as the cap, maybe more
    page, counts = _page(assets, "alpha", 1, 50)
    # SQLite scores the newest RANK_CAP hits: 7 of 7 may be 7 of more, so it counts. PostgreSQL lists
    # the ids of up to COUNT_CAP + 1 hits first (the ranked head is the newest RANK_CAP of them): all 7
    assert (counts, page.count) == (1 if connection.vendor == "sqlite" else 0, 7)
    monkeypatch.setattr(engine, "RANK_CAP", 8)
    page, counts = _page(assets, "alpha", 1, 50)
    assert (counts, page.count) == (0, 7)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_ranked_ids_above_the_count_cap_prove_it(assets, monkeypatch):
    """PostgreSQL: the listed ids (up to COUNT_CAP + 1, at least RANK_CAP) show the count, capped or exact,
    even when the ranked head (RANK_CAP 3 of 7 hits) could not."""
    monkeypatch.setattr(engine, "RANK_CAP", 3)
    monkeypatch.setattr(engine, "COUNT_CAP", 5)
    page, counts = _page(assets, "alpha", 1, 50)
    assert (counts, page.count, page.count_capped, len(page.rows)) == (0, 5, True, 7)  # 3 ranked, then 4 by recency
    monkeypatch.setattr(engine, "COUNT_CAP", 7)  # 7 hits listed of at most 8: exact
    page, counts = _page(assets, "alpha", 1, 50)
    assert (counts, page.count, page.count_capped) == (0, 7, False)
    monkeypatch.setattr(engine, "COUNT_CAP", 6)  # 7 hits: capped at 6
    page, counts = _page(assets, "alpha", 1, 50)
    assert (counts, page.count, page.count_capped) == (0, 6, True)


def test_ranked_page_past_the_candidates(assets):
    page, counts = _page(assets, "alpha", 3, 5)  # rows 11-15 of 7: none read
    # SQLite scores every candidate whatever the page (one FTS5 scan), so it saw all 7; PostgreSQL
    # listed the ids of every hit before reading the page's rows (none here), so it knows 7 too
    assert (counts, page.count, page.rows) == (0, 7, [])


def test_without_count_nothing_is_assumed(assets):
    search = asset_search(user=assets, q="alpha")
    page = search.page(1, 50, with_count=False)
    assert (page.count, len(page.rows)) == (0, 7)
