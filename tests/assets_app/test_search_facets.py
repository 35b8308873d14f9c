"""Facet counts are bounded by design (SPEC §11, issue 17): counted over the newest ``FACET_CAP``
hits (by id) in one grouped query, the page and the API saying so when the sample was cut. Checked
against a brute force on SQLite and PostgreSQL, with the engine's recency windows off (a small
table) and shrunk to this data; the number of queries does not depend on the number of hits."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets_app.choices import AssetKind
from assets_app.models import Asset
from assets_app.selectors import asset_search
from runs_app.choices import RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

KINDS = [AssetKind.DATA, AssetKind.ARTIFACT, AssetKind.LOG, AssetKind.ERROR_TRACE]


@pytest.fixture(autouse=True, params=["one query", "recency windows", "recency windows, sparse rest"])
def windows(request, monkeypatch):
    """With "sparse rest", after the windows PostgreSQL lists the hits first (``AssetSearch._rest``),
    as it does on a large table; the counts must not change."""
    from assets_app.search import engine

    if request.param.startswith("recency windows"):
        monkeypatch.setattr(engine, "WINDOWS", (20, 60))
        monkeypatch.setattr(engine, "FACET_WINDOWS", (12, 48, 96))
        monkeypatch.setattr(engine, "WINDOW_TABLE_SHARE", 1)
    if request.param == "recency windows, sparse rest":
        monkeypatch.setattr(engine, "SPARSE_WALK_ROWS", 0)
    return request.param


@pytest.fixture
def corpus(ws, project, experiment, other_ws):
    """160 assets in the viewer's workspace (two projects, four kinds, runs of three statuses) and
    30 in another workspace, all holding "frequent"; every 9th also holds "scarce"."""
    rng = random.Random(11)
    second = f.ProjectFactory(workspace=ws, name="Second", slug="second")
    runs = [f.RunFactory(experiment=experiment, status=s) for s in (RunStatus.FAILED, RunStatus.SUCCEEDED)]
    runs.append(None)
    rows = []
    for i in range(190):
        mine = i < 160
        words = "frequent scarce" if i % 9 == 0 else "frequent"
        rows.append(f.AssetFactory.build(
            workspace=ws if mine else other_ws,
            project=(project if rng.random() < 0.6 else second) if mine else None,
            kind=rng.choice(KINDS),
            producer_run=rng.choice(runs) if mine else None,
            name=f"row-{i:03d}.bin",
            search_text=f"row {words} filler{i}",
        ))  # fmt: skip
    Asset.objects.bulk_create(rows)  # one INSERT, ids in list order
    return ws


def _expected(ws, word, cap=None):
    hits = [
        a
        for a in Asset.objects.select_related("producer_run", "project").order_by("-id")
        if a.workspace_id == ws.pk and word in a.search_text.split()
    ]
    sample = hits[:cap] if cap else hits
    return {
        "kind": Counter(a.kind for a in sample),
        "project": Counter(a.project.slug for a in sample if a.project_id),
        "status": Counter(a.producer_run.status for a in sample if a.producer_run_id),
        "sampled": len(sample),
    }, len(hits)


def _got(facets):
    return {
        "kind": Counter({x["value"]: x["count"] for x in facets["kind"]}),
        "project": Counter({x["slug"]: x["count"] for x in facets["project"]}),
        "status": Counter({x["value"]: x["count"] for x in facets["status"]}),
        "sampled": facets["sampled"],
    }


@pytest.mark.parametrize("word", ["frequent", "scarce"])
def test_below_the_cap_the_counts_are_exact(api_client_for, corpus, word):
    expected, n = _expected(corpus, word)
    body = api_client_for("viewer").get("/api/assets/", {"q": word, "facets": "1"}).json()
    assert _got(body["facets"]) == expected and expected["sampled"] == n
    assert body["facets"]["capped"] is False


@pytest.mark.parametrize("word", ["frequent", "scarce"])
def test_over_the_cap_the_newest_hits_are_counted_and_it_is_stated(api_client_for, corpus, word, monkeypatch):
    from assets_app.search import engine

    monkeypatch.setattr(engine, "FACET_CAP", 12)
    expected, n = _expected(corpus, word, cap=12)
    assert n > 12
    body = api_client_for("viewer").get("/api/assets/", {"q": word, "facets": "true"}).json()
    assert _got(body["facets"]) == expected
    assert body["facets"]["capped"] is True and body["facets"]["sampled"] == 12


def test_the_catalog_page_states_the_cap(web_client_for, corpus, monkeypatch):
    from assets_app.search import engine

    client = web_client_for("viewer")
    assert "Counted over the newest" not in client.get("/catalog/", {"q": "scarce"}).content.decode()
    monkeypatch.setattr(engine, "FACET_CAP", 12)
    html = client.get("/catalog/", {"q": "frequent"}).content.decode()
    assert "Counted over the newest 12 matches." in html


def test_facets_never_count_other_workspaces(api_client_for, corpus):
    body = api_client_for("outsider").get("/api/assets/", {"q": "frequent", "facets": "1"}).json()
    assert body["facets"]["sampled"] == 30 and body["facets"]["project"] == []


@pytest.mark.parametrize("word", ["frequent", "scarce"])
def test_facets_cost_one_grouped_query_per_window_whatever_the_hits(viewer, corpus, word, windows, monkeypatch):
    """The grouped query and the largest-id lookup (which tells whether windows apply); with the
    windows at most one grouped query per window tried plus the unwindowed one (never one per
    hit or per facet value)."""
    from assets_app.search import engine

    bound = 2 if windows == "one query" else 1 + len(engine.FACET_WINDOWS) + 1
    for cap in (5, 1000):
        monkeypatch.setattr(engine, "FACET_CAP", cap)
        search = asset_search(user=viewer, q=word)
        with CaptureQueriesContext(connection) as ctx:
            search.facets()
        assert 1 <= len(ctx.captured_queries) <= bound, [q["sql"] for q in ctx.captured_queries]
