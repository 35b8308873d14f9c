"""PostgreSQL: the plain words and phrases ANDed in a catalog query are matched by ONE tsquery
(``search_vector @@ (q1 && q2)``, ``expressions.pg_text_match_all``): each row's tsvector is searched
once, and GIN resolves the AND itself. Only terms whose tsquery is never empty are merged (``&&``
drops an empty operand, which alone matches nothing). Results equal a brute force over the texts,
on both databases."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets_app.models import Asset
from assets_app.search import term_stats
from assets_app.search.compiler import COMMON_SHARE, SELECTIVE_SHARE
from assets_app.search.expressions import mergeable
from tests import factories as f

pytestmark = pytest.mark.django_db

TEXTS = [
    "alpha beta gamma",
    "alpha gamma",
    "beta gamma delta",
    "alpha beta",
    "gamma ray burst alpha",
    "ray gamma alpha",
    "epoch-17 alpha beta",
    "delta",
]


@pytest.fixture
def corpus(ws, project, experiment):
    run = f.RunFactory(experiment=experiment)
    key = Asset.make_scope_key(ws.pk, project.pk, experiment.pk, run.pk)
    rows = [
        f.AssetFactory(
            workspace=ws,
            project=project,
            experiment=experiment,
            run=run,
            producer_run=run,
            scope="run",
            scope_key=key,
            name=f"doc-{i}.txt",
            search_text=text,
        )  # fmt: skip
        for i, text in enumerate(TEXTS)
    ]
    return {a.pk: a for a in Asset.objects.filter(pk__in=[r.pk for r in rows])}


def _has(text: str, term: str) -> bool:
    words = text.split()
    parts = term.split()
    if len(parts) == 1:
        return term in words
    return any(words[i : i + len(parts)] == parts for i in range(len(words)))


@pytest.mark.parametrize(
    ("q", "terms"),
    [
        ("alpha beta", ["alpha", "beta"]),
        ("alpha beta gamma", ["alpha", "beta", "gamma"]),
        ('"gamma ray" alpha', ["gamma ray", "alpha"]),
        ('"ray gamma" alpha', ["ray gamma", "alpha"]),
        ("gamma delta", ["gamma", "delta"]),
        ("alpha epoch-17", None),  # a name fragment stays its own condition
    ],
)
def test_anded_words_match_like_a_brute_force(api_client_for, corpus, q, terms):
    client = api_client_for("viewer")
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/assets/", {"q": q, "page_size": 100}).json()
    got = {r["id"] for r in body["results"]}
    if terms is None:
        expected = {pk for pk, a in corpus.items() if "alpha" in a.search_text.split() and "epoch-17" in a.search_text}
    else:
        expected = {pk for pk, a in corpus.items() if all(_has(a.search_text, t) for t in terms)}
    assert got == expected and expected
    if connection.vendor == "postgresql":
        matching = [x["sql"] for x in ctx.captured_queries if " @@ " in x["sql"] and "ts_rank" not in x["sql"]]
        assert matching
        for sql in matching:  # one tsquery for the merged words: one @@ (the fragment keeps its own)
            assert sql.count(" @@ ") == (1 if terms else 2), sql
            assert ("&&" in sql) is bool(terms), sql


def test_mergeable_terms_are_ascii_words():
    assert mergeable("alpha") and mergeable("gamma ray") and mergeable("042")
    assert not mergeable("epoch-17") and not mergeable("++") and not mergeable("héllo") and not mergeable(" ")


@pytest.fixture
def skewed(ws, project, experiment):
    """40 assets: "common" in 36 of them, "rare" in 1, "mid" in 10 (the table analysed)."""
    run = f.RunFactory(experiment=experiment)
    key = Asset.make_scope_key(ws.pk, project.pk, experiment.pk, run.pk)
    texts = [
        " ".join(w for w, on in (("common", i % 10 != 9), ("rare", i == 7), ("mid", i % 4 == 0)) if on) + f" n{i}"
        for i in range(40)
    ]
    for i, text in enumerate(texts):
        f.AssetFactory(workspace=ws, project=project, experiment=experiment, run=run, producer_run=run, scope="run",
                       scope_key=key, name=f"s-{i}.txt", search_text=text)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Asset._meta.db_table}")
    return {a.pk: a.search_text for a in Asset.objects.all()}


@pytest.mark.parametrize(
    ("q", "checked"),
    [
        ("common rare", True),  # 90 % and 2.5 %: the GIN looks up "rare", each row found is checked for "common"
        ("rare common", True),
        ("common mid", False),  # 25 % is not selective: one tsquery
        ("common n3", True),
    ],
)
def test_a_very_common_word_is_checked_on_the_rows_the_selective_ones_found(api_client_for, skewed, q, checked):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's statistics")
    term_stats.forget()
    shares = term_stats.term_shares()
    assert shares["common"] >= COMMON_SHARE > shares.get("mid", 0) >= SELECTIVE_SHARE > shares.get("rare", 0)
    client = api_client_for("viewer")
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/assets/", {"q": q, "page_size": 100}).json()
    expected = {pk for pk, text in skewed.items() if all(w in text.split() for w in q.split())}
    assert {r["id"] for r in body["results"]} == expected and expected
    assert body["count"] == len(expected)
    matching = [x["sql"] for x in ctx.captured_queries if " @@ " in x["sql"] and "ts_rank" not in x["sql"]]
    assert matching
    for sql in matching:
        assert ("ts_match_vq(" in sql) is checked, sql
        assert sql.count(" @@ ") == 1, sql
    assert not any("pg_stats" in x["sql"] for x in ctx.captured_queries)  # looked up once, above


def test_word_statistics_are_looked_up_once_per_process_and_period(api_client_for, skewed):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's statistics")
    term_stats.forget()
    client = api_client_for("viewer")
    seen = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/assets/", {"q": "common rare"}).status_code == 200
        seen.append(sum("pg_stats" in x["sql"] for x in ctx.captured_queries))
    assert seen == [1, 0]
