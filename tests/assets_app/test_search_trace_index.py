"""PostgreSQL: error traces have a text GIN index of their own (migration 0012,
``asset_trace_search_gin``, ``WHERE kind = 'error_trace'``). The catalog's compiled
``kind:error_trace <word>`` must be a query that index can answer (the planner uses a partial
index only when the query implies its predicate), and the index must not change any result."""

from __future__ import annotations

import pytest
from django.db import connection

from assets_app.choices import AssetKind
from assets_app.models import Asset
from assets_app.selectors import asset_search
from runs_app.choices import RunStatus
from tests import factories as f

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'"),
]


@pytest.fixture
def traces(ws, project, experiment, viewer):
    failed = f.RunFactory(experiment=experiment, status=RunStatus.FAILED)
    ok = f.RunFactory(experiment=experiment, status=RunStatus.SUCCEEDED)
    key = Asset.make_scope_key(ws.pk, project.pk, experiment.pk, failed.pk)
    rows = []
    for i in range(60):
        run = failed if i % 4 else ok
        rows.append(
            f.AssetFactory.build(
                kind=AssetKind.ERROR_TRACE if i % 3 else AssetKind.LOG,
                workspace=ws,
                project=project,
                experiment=experiment,
                run=run,
                producer_run=run,
                scope="run",
                scope_key=key,
                name=f"t-{i:02d}",
                search_text=f"boom {'oom' if i % 5 else 'nan'}",
            )  # fmt: skip
        )
    Asset.objects.bulk_create(rows)
    return viewer


def test_the_index_is_partial_on_error_traces():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'asset_trace_search_gin'")
        (definition,) = cursor.fetchone()
    assert "USING gin (search_vector)" in definition and "WHERE ((kind)::text = 'error_trace'::text)" in definition


@pytest.mark.parametrize(
    "q", ["kind:error_trace oom", "kind:error_trace status:failed oom", "oom kind:error_trace -nan"]
)
def test_trace_word_queries_imply_the_index_predicate(traces, q):
    """The planner proves a partial index's predicate from a plain ``kind = 'error_trace'`` ANDed at the
    top of the WHERE clause (client-side binding sends the literal); an ``IN`` or an expression would not."""
    sql, params = asset_search(user=traces, q=q).matching.query.sql_with_params()
    with connection.cursor() as cursor:
        bound = cursor.mogrify(sql, params)
    assert """AND "assets_app_asset"."kind" = 'error_trace' AND""" in bound or bound.count(
        """"assets_app_asset"."kind" = 'error_trace'"""
    ), bound


@pytest.mark.parametrize(
    ("q", "test"),
    [
        ("kind:error_trace oom", lambda a: a.kind == "error_trace" and "oom" in a.search_text.split()),
        (
            "kind:error_trace status:failed oom",
            lambda a: a.kind == "error_trace" and a.producer_run.status == "failed" and "oom" in a.search_text.split(),
        ),
        ("kind:log boom", lambda a: a.kind == "log"),
    ],
)
def test_results_are_the_brute_force(traces, q, test):
    expected = {a.pk for a in Asset.objects.select_related("producer_run") if test(a)}
    search = asset_search(user=traces, q=q)
    got = {a.pk for a in search.page(1, 100).rows}
    assert got == expected and expected
