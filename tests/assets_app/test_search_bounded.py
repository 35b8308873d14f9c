"""The bounded search plans (SPEC §11) return exactly what an unbounded brute force returns, on
SQLite and on PostgreSQL: ``sort=newest`` on a word most rows hold (ties on ``created_at``
broken by id, imported rows whose ``created_at`` is older than their id), relevance ranking
the newest ``RANK_CAP`` hits, the capped count, and the project filter."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest

from assets_app.models import Asset
from tests import factories as f

pytestmark = pytest.mark.django_db

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(
    autouse=True,
    params=["one query", "recency windows", "recency windows, dense rest", "recency windows, table share"],
)
def windows(request, monkeypatch):
    """Every test runs four times: plain queries (a small table) and the recency windows of the
    engine shrunk to this data (20 and 60 ids; on SQLite with the FTS5 rowid floor), so the
    windowed plans are compared with the same brute force. After windows that held too few hits,
    PostgreSQL lists a sparse query's hits first (``AssetSearch._rest``; on a table this small only
    with ``SPARSE_WALK_ROWS`` lowered to 0, as here); "dense rest" turns that off so the plain
    fallback is compared too. The windows are tried whatever the table's size (``WINDOW_TABLE_SHARE``
    1) except in "table share", where PostgreSQL keeps its rule for word queries (the 20-id window
    on these 180 rows, not the 60-id one)."""
    from assets_app.search import engine

    if request.param.startswith("recency windows"):
        monkeypatch.setattr(engine, "WINDOWS", (20, 60))
        monkeypatch.setattr(engine, "SPARSE_WALK_ROWS", 0)
    if request.param != "recency windows, table share":
        monkeypatch.setattr(engine, "WINDOW_TABLE_SHARE", 1)
    if request.param == "recency windows, dense rest":
        monkeypatch.setattr(engine, "SPARSE_HITS", -1)
    return request.param


@pytest.fixture
def corpus(ws, project, other_ws):
    """150 assets in the viewer's workspace and 30 in another; 2/3 hold "frequent", a few
    "scarce"; created_at shuffled with ties, so id order is not recency order."""
    rng = random.Random(7)
    other_project = f.ProjectFactory(workspace=ws, name="Other", slug="other")
    rows = []
    for i in range(180):
        mine = i < 150
        words = ["frequent"] if rng.random() < 2 / 3 else ["plain"]
        if i % 17 == 0:
            words.append("scarce")
        proj = (project if i % 3 else other_project) if mine else None
        asset = f.AssetFactory.build(
            workspace=ws if mine else other_ws,
            project=proj,
            name=f"item-{i:03d}.bin",
            search_text=f"item {' '.join(words)} filler{i}",
        )
        rows.append(asset)
    rows = Asset.objects.bulk_create(rows)  # one INSERT, ids in list order
    for asset in rows:
        # 40 distinct instants for 180 rows: many ties on created_at
        asset.created_at = BASE + dt.timedelta(minutes=rng.randrange(40))
    Asset.objects.bulk_update(rows, ["created_at"])
    return {a.pk: a for a in Asset.objects.all()}


def _visible(corpus, ws, word, project=None):
    return [
        a
        for a in corpus.values()
        if a.workspace_id == ws.pk and word in a.search_text.split() and (project is None or a.project_id == project.pk)
    ]


def _walk(client, params):
    ids, url, pages = [], "/api/assets/", 0
    while url:
        body = client.get(url, params).json() if pages == 0 else client.get(url).json()
        ids += [r["id"] for r in body["results"]]
        url, pages = body["next"], pages + 1
    return ids, pages


@pytest.mark.parametrize("word", ["frequent", "scarce"])
def test_newest_sort_returns_exactly_the_newest_hits(api_client_for, corpus, ws, word):
    client = api_client_for("viewer")
    expected = [a.pk for a in sorted(_visible(corpus, ws, word), key=lambda a: (a.created_at, a.pk), reverse=True)]
    first = client.get("/api/assets/", {"q": word, "sort": "newest", "page_size": 50}).json()
    assert [r["id"] for r in first["results"]] == expected[:50]
    ids, _ = _walk(client, {"q": word, "sort": "newest", "page_size": 20})
    assert ids == expected
    oldest, _ = _walk(client, {"q": word, "sort": "oldest", "page_size": 20})
    assert oldest == expected[::-1]


def test_newest_sort_with_a_project_filter(api_client_for, corpus, ws, project):
    client = api_client_for("viewer")
    hits = _visible(corpus, ws, "frequent", project)
    expected = [a.pk for a in sorted(hits, key=lambda a: (a.created_at, a.pk), reverse=True)]
    ids, _ = _walk(client, {"q": "frequent", "sort": "newest", "project": project.pk, "page_size": 25})
    assert ids == expected


def test_relevance_ranks_the_newest_rank_cap_hits_then_follows_recency(api_client_for, corpus, ws, monkeypatch):
    from assets_app.search import engine

    monkeypatch.setattr(engine, "RANK_CAP", 30)
    client = api_client_for("viewer")
    hits = sorted((a.pk for a in _visible(corpus, ws, "frequent")), reverse=True)
    assert len(hits) > 60
    ids, pages = _walk(client, {"q": "frequent", "page_size": 7})
    assert len(ids) == len(set(ids)) == len(hits) and pages == -(-len(hits) // 7)
    assert set(ids[:30]) == set(hits[:30])  # the ranked head: exactly the newest 30 hits
    assert ids[30:] == hits[30:]  # then recency (id) order


def test_relevance_page_and_count_agree_with_the_caps(api_client_for, corpus, ws, project, monkeypatch):
    from assets_app.search import engine

    client = api_client_for("viewer")
    n = len(_visible(corpus, ws, "frequent"))
    body = client.get("/api/assets/", {"q": "frequent", "page_size": 50}).json()
    assert body["count"] == n and body["count_capped"] is False and body["ranked"] is True
    in_project = {a.pk for a in _visible(corpus, ws, "frequent", project)}
    ids, _ = _walk(client, {"q": "frequent", "project": project.pk, "page_size": 50})
    assert set(ids) == in_project and len(ids) == len(in_project)
    monkeypatch.setattr(engine, "COUNT_CAP", 40)
    capped = client.get("/api/assets/", {"q": "frequent", "page_size": 50}).json()
    assert capped["count"] == 40 and capped["count_capped"] is True
    assert len(capped["results"]) == 50 and capped["next"]
    capped_newest = client.get("/api/assets/", {"q": "frequent", "sort": "newest"}).json()
    assert capped_newest["count"] == 40 and capped_newest["count_capped"] is True


def test_windows_partition_the_rows_when_created_at_disagrees_with_ids(api_client_for, corpus, ws, windows):
    """Recent ids with old created_at (imports) and old ids with new created_at: the windows
    are only hints, every row is still found once and in order."""
    newest_ids = sorted(corpus, reverse=True)[:10]
    oldest_ids = sorted(corpus)[:10]
    Asset.objects.filter(pk__in=newest_ids).update(created_at=BASE - dt.timedelta(days=30))
    Asset.objects.filter(pk__in=oldest_ids).update(created_at=BASE + dt.timedelta(days=30))
    rows = {a.pk: a for a in Asset.objects.all()}
    client = api_client_for("viewer")
    hits = _visible(rows, ws, "frequent")
    expected = [a.pk for a in sorted(hits, key=lambda a: (a.created_at, a.pk), reverse=True)]
    ids, _ = _walk(client, {"q": "frequent", "sort": "newest", "page_size": 30})
    assert ids == expected
    unranked, _ = _walk(client, {"q": "kind:data", "page_size": 30})
    assert unranked == sorted((a.pk for a in rows.values() if a.workspace_id == ws.pk), reverse=True)


def test_an_outsider_never_gets_rows_of_the_walk(api_client_for, corpus, ws):
    body = api_client_for("outsider").get("/api/assets/", {"q": "frequent", "sort": "newest"}).json()
    assert {corpus[r["id"]].workspace_id for r in body["results"]} and ws.pk not in {
        corpus[r["id"]].workspace_id for r in body["results"]
    }


def test_a_sparse_query_lists_its_hits_before_ordering_them(corpus, ws, viewer, windows):
    """After windows that held too few hits, a query whose hits, spread over the table, stay under
    ``SPARSE_HITS`` is read from the list of its hits (PostgreSQL): the planner never gets to walk the
    newest-first index filtering every row (3 s for a rare word at 10 M assets)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from assets_app.search import engine
    from assets_app.selectors import asset_search

    with CaptureQueriesContext(connection) as ctx:
        page = asset_search(user=viewer, q="scarce", filters={}, sort="relevance", rows="api").page(1, 50)
    assert sorted(r.pk for r in page.rows) == sorted(a.pk for a in _visible(corpus, ws, "scarce"))
    sqls = [q["sql"] for q in ctx.captured_queries]
    # the hits listed (unordered, capped at SPARSE_HITS + 1), then the candidates' ids (newest first)
    # taken from that list by primary key
    lists_hits = [sql for sql in sqls if "@@" in sql and sql.endswith(f"LIMIT {engine.SPARSE_HITS + 1}")]
    by_ids = [
        sql
        for sql in sqls
        if sql.startswith('SELECT "assets_app_asset"."id" AS "pk"') and "::bigint[])" in sql and "@@" not in sql
        and re.search(r'"id" DESC LIMIT \d+$', sql)
    ]  # fmt: skip
    expect = connection.vendor == "postgresql" and windows in ("recency windows", "recency windows, table share")
    assert bool(lists_hits) is expect and bool(by_ids) is expect, sqls
    if expect:
        assert sqls.index(lists_hits[0]) < sqls.index(by_ids[0])


def test_a_sparse_listing_that_reaches_its_cap_gives_way_to_the_plain_query(ws, viewer, windows, monkeypatch):
    """New rows without the query's words fill the newest ids, so the windows see almost no hits and the
    hits look sparse; the capped list shows otherwise, and the plain query follows (PostgreSQL). Before
    the cap every hit was listed: 770 000 ids for a common word at 1 M assets, 1.1 s a facet count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from assets_app.search import engine
    from assets_app.selectors import asset_search

    monkeypatch.setattr(engine, "SPARSE_HITS", 10)
    texts = ["older frequent"] * 40 + ["burst log"] * 140  # ids in list order: the burst is newest
    rows = Asset.objects.bulk_create(
        [f.AssetFactory.build(workspace=ws, name=f"b-{i:03d}", search_text=t) for i, t in enumerate(texts)]
    )
    expected = sorted((a.pk for a in rows if "frequent" in a.search_text), reverse=True)
    with CaptureQueriesContext(connection) as ctx:
        page = asset_search(user=viewer, q="frequent", filters={}, sort="newest", rows="api").page(1, 30)
        facets = asset_search(user=viewer, q="frequent", filters={}, sort="relevance").facets()
    assert [r.pk for r in page.rows] == expected[:30] and page.count == 40
    assert facets["sampled"] == 40
    sqls = [q["sql"] for q in ctx.captured_queries]
    capped = [sql for sql in sqls if "@@" in sql and sql.endswith("LIMIT 11")]
    if connection.vendor == "postgresql" and windows in ("recency windows", "recency windows, table share"):
        assert capped, sqls  # listed, found more than the cap ...
        read_from_list = [sql for sql in sqls if "::bigint[])" in sql and "@@" not in sql]
        assert not read_from_list, sqls  # ... so never read from the list


@pytest.mark.parametrize("share", [1, 10**9])
def test_word_queries_skip_windows_too_large_for_the_table(corpus, ws, viewer, windows, share, monkeypatch):
    """PostgreSQL: a word query's page uses a window only on a table at least ``WINDOW_TABLE_SHARE``
    times the window (the BRIN range ANDed with the text GIN is a lossy bitmap); a query without
    words keeps its windows, and so does SQLite (FTS5 rowid floors, no bitmap). Same rows either way."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from assets_app.search import engine
    from assets_app.selectors import asset_search

    if windows != "recency windows":
        pytest.skip("the windows shrunk to this data, the share set here")
    monkeypatch.setattr(engine, "WINDOW_TABLE_SHARE", share)
    windowed = {}
    for q in ("frequent", "kind:data"):
        with CaptureQueriesContext(connection) as ctx:
            page = asset_search(user=viewer, q=q, filters={}, sort="newest", rows="api").page(1, 5)
        hits = (
            _visible(corpus, ws, "frequent")
            if q == "frequent"
            else [a for a in corpus.values() if a.workspace_id == ws.pk]
        )
        expected = sorted(hits, key=lambda a: (a.created_at, a.pk), reverse=True)[:5]
        assert [r.pk for r in page.rows] == [a.pk for a in expected]
        windowed[q] = any('"created_at" >=' in x["sql"] for x in ctx.captured_queries)
    skipped = connection.vendor == "postgresql" and share > 1
    assert windowed == {"frequent": not skipped, "kind:data": True}
