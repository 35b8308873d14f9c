"""Ranked searches with filters on the producing run (``status:``, ``config_hash:``): on PostgreSQL the
ranked candidates are first looked for among the newest hits of the asset's own conditions
(``engine.SPLIT_CANDIDATES``), because the planner takes those filters as independent of the asset's
conditions (error traces come from failed runs) and sorted every hit instead of walking the newest.
Whichever way a page is found, it is exactly what a brute force over every asset gives: the newest
``RANK_CAP`` hits ranked first, then recency order. On SQLite the split never applies; the same
cases check the plain path."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets_app.choices import AssetKind
from assets_app.models import Asset
from assets_app.search import engine, term_stats
from runs_app.choices import RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

RANK_CAP, SPLIT = 5, 10


@pytest.fixture(autouse=True)
def small_caps(monkeypatch):
    monkeypatch.setattr(engine, "RANK_CAP", RANK_CAP)
    monkeypatch.setattr(engine, "SPLIT_CANDIDATES", SPLIT)


def _corpus(ws, project, layout: str) -> dict[int, Asset]:
    """Error traces and artifacts holding "boom" (or "calm"), produced by failed or succeeded runs.

    ``layout``: "mostly failed" (1 in 7 from a succeeded run), "succeeded newest" (the newest 36
    come from succeeded runs, older ones from failed runs: the split finds none), "few failed newest"
    (1 in 9 of the newest 36 from a failed run: the split finds some, fewer than ``RANK_CAP``).
    """
    experiment = f.ExperimentFactory(project=project, workspace=ws)
    failed = f.RunFactory(experiment=experiment, status=RunStatus.FAILED, config_hash="aa" + "0" * 62)
    succeeded = f.RunFactory(experiment=experiment, status=RunStatus.SUCCEEDED, config_hash="bb" + "0" * 62)
    rows = []
    n = 80
    for i in range(n):
        if layout == "mostly failed":
            run = succeeded if i % 7 == 3 else failed
        elif layout == "succeeded newest":
            run = succeeded if i >= n - 36 else failed
        else:  # "few failed newest": some of the newest pass, too few for the ranked head
            run = succeeded if i >= n - 36 and i % 9 else failed
        kind = AssetKind.ERROR_TRACE if i % 5 else AssetKind.ARTIFACT
        word = "calm" if i % 11 == 5 else "boom"
        rows.append(
            f.AssetFactory.build(
                kind=kind,
                workspace=ws,
                project=project,
                experiment=experiment,
                run=run,
                producer_run=run,
                scope="run",
                scope_key=Asset.make_scope_key(ws.pk, project.pk, experiment.pk, run.pk),
                name=f"trace-{i:03d}",
                search_text=f"trace {word} filler{i}",
            )  # fmt: skip
        )
    Asset.objects.bulk_create(rows)
    return {a.pk: a for a in Asset.objects.select_related("producer_run")}


def _expected(corpus: dict[int, Asset], test) -> list[int]:
    return sorted((pk for pk, a in corpus.items() if test(a)), reverse=True)


def _walk(client, params) -> list[int]:
    ids, url, first = [], "/api/assets/", True
    while url:
        body = client.get(url, params).json() if first else client.get(url).json()
        ids += [r["id"] for r in body["results"]]
        url, first = body["next"], False
    return ids


def _ranked_statements(client, q) -> list[str]:
    """The statements listing a ranked search's candidates, newest first (PostgreSQL: the ids of the
    newest hits, before the rows of the newest ``RANK_CAP`` are read and scored)."""
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/assets/", {"q": q}).status_code == 200
    # the API reads its rows as values: the outer ORDER BY names the id by its position in the select list
    last = r'(?:"id"|\b1) DESC LIMIT \d+$'
    return [x["sql"] for x in ctx.captured_queries if "@@" in x["sql"] and re.search(last, x["sql"])]


def _split(sql: str) -> bool:
    """The statement takes its candidates among the newest ``SPLIT_CANDIDATES`` asset-side hits."""
    return re.search(rf"LIMIT {SPLIT}\b", sql) is not None


CASES = [
    ("kind:error_trace status:failed boom",
     lambda a: a.kind == "error_trace" and a.producer_run.status == "failed" and "boom" in a.search_text),
    ("status:failed boom", lambda a: a.producer_run.status == "failed" and "boom" in a.search_text),
    ("boom status:succeeded", lambda a: a.producer_run.status == "succeeded" and "boom" in a.search_text),
    ("config_hash:aa boom", lambda a: a.producer_run.config_hash.startswith("aa") and "boom" in a.search_text),
    ("status:failed OR calm",
     lambda a: a.producer_run.status == "failed" or "calm" in a.search_text),
    ("boom -status:failed", lambda a: a.producer_run.status != "failed" and "boom" in a.search_text),
]  # fmt: skip


@pytest.mark.parametrize("layout", ["mostly failed", "succeeded newest", "few failed newest"])
@pytest.mark.parametrize(("q", "test"), CASES, ids=[c[0] for c in CASES])
def test_ranked_pages_are_exactly_the_brute_force(api_client_for, ws, project, layout, q, test):
    corpus = _corpus(ws, project, layout)
    expected = _expected(corpus, test)
    assert len(expected) > RANK_CAP
    ids = _walk(api_client_for("viewer"), {"q": q, "page_size": 4})
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids[:RANK_CAP]) == set(expected[:RANK_CAP])  # the ranked head: exactly the newest hits
    assert ids[RANK_CAP:] == expected[RANK_CAP:]  # then recency order


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_the_split_is_one_statement_when_enough_newest_hits_pass(api_client_for, ws, project):
    _corpus(ws, project, "mostly failed")
    ranked = _ranked_statements(api_client_for("viewer"), "kind:error_trace status:failed boom")
    assert len(ranked) == 1 and _split(ranked[0])


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_the_plain_query_follows_when_too_few_newest_hits_pass(api_client_for, ws, project):
    _corpus(ws, project, "succeeded newest")
    ranked = _ranked_statements(api_client_for("viewer"), "kind:error_trace status:failed boom")
    assert len(ranked) == 2 and _split(ranked[0]) and not _split(ranked[1])


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.parametrize("q", ["boom", "status:failed OR boom", "boom -status:failed"])
def test_no_split_without_a_run_side_filter_anded_at_the_top(api_client_for, ws, project, q):
    _corpus(ws, project, "mostly failed")
    ranked = _ranked_statements(api_client_for("viewer"), q)
    assert len(ranked) == 1 and not _split(ranked[0])


@pytest.mark.parametrize(
    ("q", "shares", "windows", "newest_first"),
    [
        ("kind:error_trace status:failed boom", {"boom": 0.9}, (20, 60), True),  # every word very common
        ("kind:error_trace status:failed boom", {"boom": 0.2}, (20, 60), False),  # a rarer word: unordered
        ("kind:error_trace status:failed", {}, (20, 60), True),  # no words
        ("kind:error_trace status:failed", {}, (10**12, 10**13), False),  # a table within the windows
        ("kind:error_trace boom", {"boom": 0.9}, (20, 60), False),  # no run-side filter
        ('kind:error_trace status:failed "trace boom"', {"trace": 0.9, "boom": 0.9}, (20, 60), False),  # a phrase
    ],
)
def test_the_capped_count_of_run_side_queries_with_common_words_is_taken_newest_first(
    api_client_for, monkeypatch, ws, project, q, shares, windows, newest_first
):
    """The count walks the newest hits only where the words are all very common and the table is larger
    than ``COUNT_NEWEST_ROWS`` (here the largest window; PostgreSQL), and is the brute force's, capped,
    either way."""
    monkeypatch.setattr(engine, "COUNT_CAP", 12)
    monkeypatch.setattr(engine, "WINDOWS", windows)
    monkeypatch.setattr(engine, "COUNT_NEWEST_ROWS", windows[-1])
    term_stats.assume(shares)
    corpus = _corpus(ws, project, "mostly failed")
    words = [w for w in q.replace('"', "").split() if ":" not in w]
    status = "failed" if "status:failed" in q else None
    expected = [
        a for a in corpus.values()
        if a.kind == "error_trace" and (status is None or a.producer_run.status == status)
        and all(w in a.search_text.split() for w in words)
    ]  # fmt: skip
    assert len(expected) > 12
    with CaptureQueriesContext(connection) as ctx:
        body = api_client_for("viewer").get("/api/assets/", {"q": q}).json()
    assert (body["count"], body["count_capped"]) == (12, True)
    counts = [x["sql"] for x in ctx.captured_queries if x["sql"].startswith("SELECT COUNT(*)")]
    ordered = [sql.endswith('ORDER BY "assets_app_asset"."id" DESC LIMIT 13) subquery') for sql in counts]
    if connection.vendor == "postgresql" and newest_first:
        assert ordered == [True], counts
    else:
        assert not any(ordered), counts
