"""How a catalog search page reads its rows (issue 13: the search service as fast as before the wave).

- A row its own run produced names that run from what the row query read (its experiment, project
  and workspace joined, the run's number as a value: no query, no ``Run`` instance); a row another
  run produced names it through one query for the page; the label and link are the same.
- On PostgreSQL an unranked page chooses its ids first and reads their rows by primary key
  (``= ANY(ARRAY(...))``): the planner meets two small join problems, not one large one; the
  rows and their order are those of the single ordered query.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets_app.choices import AssetKind
from assets_app.search import SORTS
from assets_app.selectors import asset_search
from assets_app.services import asset_create
from tests import factories as f

pytestmark = pytest.mark.django_db


def _run_reads(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('SELECT "runs_app_run"."id"')]


def test_producing_runs_are_named_from_the_row_or_one_query(experiment, project, viewer):
    own = f.RunFactory(experiment=experiment, number=7)
    other_experiment = f.ExperimentFactory(project=project, name="Sweep", slug="sweep")
    producer = f.RunFactory(experiment=other_experiment, number=3)
    execution = f.ExecutionFactory(run=producer, number=1)
    own_execution = f.ExecutionFactory(run=own, number=1)
    asset_create(kind=AssetKind.ARTIFACT, name="weights.pt", run=own, producer_execution=own_execution)
    with CaptureQueriesContext(connection) as ctx:
        page = asset_search(user=viewer, q="weights").page(1, 10)
    [row] = page.rows
    assert _run_reads(ctx) == []  # named from the joined run, experiment, project and workspace
    with CaptureQueriesContext(connection) as ctx:
        pr = row.producer
        label = (pr.number, pr.experiment_name, pr.experiment_slug, pr.project_slug)
        assert (label, pr.workspace_slug, row.run_number) == ((7, "Baseline", "baseline", "qm9"), "lab", 7)
    assert len(ctx.captured_queries) == 0

    asset_create(kind=AssetKind.DATA, name="weights.csv", project=project, producer_execution=execution)
    with CaptureQueriesContext(connection) as ctx:
        page = asset_search(user=viewer, q="weights", sort="newest").page(1, 10)
    assert [a.name for a in page.rows] == ["weights.csv", "weights.pt"]
    assert len(_run_reads(ctx)) == 1  # the other run's label: one query for the page
    pr = page.rows[0].producer
    assert (pr.number, pr.experiment_name, pr.experiment_slug, pr.project_slug, pr.workspace_slug) == (
        3, "Sweep", "sweep", "qm9", "lab",
    )  # fmt: skip
    assert page.rows[0].run_number is None  # a project-scoped row has no run


@pytest.mark.parametrize(
    ("q", "sort"),
    [("weights", "newest"), ("-elsewhere", "relevance"), ("kind:artifact", "name"), ("kind:artifact", "size")],
)
def test_unranked_pages_read_ids_first_with_the_same_rows(experiment, viewer, q, sort):
    run = f.RunFactory(experiment=experiment, number=1)
    for i in range(12):
        asset_create(kind=AssetKind.ARTIFACT, name=f"weights-{i % 5}.pt", run=run, tags=["t"] if i % 2 else [])
    search = asset_search(user=viewer, q=q, sort=sort)
    expected = [a.pk for a in search.matching.order_by(*SORTS[sort])[2:9]]
    with CaptureQueriesContext(connection) as ctx:
        rows = search.rows(2, 9)
    assert [a.pk for a in rows] == expected and expected
    row_sql = [q["sql"] for q in ctx.captured_queries if '"assets_app_asset"."media_type"' in q["sql"]]
    assert row_sql
    if connection.vendor == "postgresql":
        assert all("= ANY(ARRAY(" in sql for sql in row_sql)
        outer = [sql.split("= ANY(ARRAY(", 1)[0] for sql in row_sql]
        assert all(sql.count(" JOIN ") <= 4 for sql in outer)


@pytest.mark.parametrize("sort", ["relevance", "newest", "oldest", "name", "size"])
def test_keyset_pages_read_ids_first_with_the_same_rows(experiment, viewer, sort):
    """The catalog's keyset pages (browsing, and any sort but relevance) read their rows like the
    search pages: on PostgreSQL the page's ids first, then the rows by primary key with the shape's
    joins; page 1, the next page by cursor and back again hold the rows of the one ordered query."""
    from assets_app.selectors import asset_search_page

    run = f.RunFactory(experiment=experiment, number=1)
    for i in range(11):
        asset_create(kind=AssetKind.ARTIFACT, name=f"weights-{i % 4}.pt", run=run)
    search = asset_search(user=viewer, q="", sort=sort)
    expected = [a.pk for a in search.shape(search.matching).order_by(*SORTS[sort])]
    with CaptureQueriesContext(connection) as ctx:
        first = asset_search_page(search=asset_search(user=viewer, q="", sort=sort), page_size=4)
    second = asset_search_page(search=asset_search(user=viewer, q="", sort=sort), page_size=4, cursor=first.next_cursor)
    back = asset_search_page(search=asset_search(user=viewer, q="", sort=sort), page_size=4,
                             cursor=second.previous_cursor)  # fmt: skip
    assert [a.pk for a in first.rows] == expected[:4] == [a.pk for a in back.rows]
    assert [a.pk for a in second.rows] == expected[4:8]
    assert all(a.workspace_name == "Lab" and a.run_number == 1 for a in first.rows + second.rows)
    row_sql = [q["sql"] for q in ctx.captured_queries if '"assets_app_asset"."media_type"' in q["sql"]]
    assert len(row_sql) == 1
    if connection.vendor == "postgresql":
        assert "= ANY(ARRAY(" in row_sql[0]
        assert row_sql[0].split("= ANY(ARRAY(", 1)[0].count(" JOIN ") <= 4


def test_catalog_page_links_the_run_and_the_producing_run(web_client_for, experiment, project):
    """The rendered table: the scope names the run's number, the producer column links
    "<experiment> #N" to the run's page, for a row its own run produced and for another's."""
    from django.urls import reverse

    own = f.RunFactory(experiment=experiment, number=7)
    other_experiment = f.ExperimentFactory(project=project, name="Sweep", slug="sweep")
    producer = f.RunFactory(experiment=other_experiment, number=3)
    asset_create(kind=AssetKind.ARTIFACT, name="weights.pt", run=own,
                 producer_execution=f.ExecutionFactory(run=own, number=1))  # fmt: skip
    asset_create(kind=AssetKind.DATA, name="weights.csv", project=project,
                 producer_execution=f.ExecutionFactory(run=producer, number=1))  # fmt: skip
    body = web_client_for("viewer").get(reverse("assets:asset-list"), {"q": "weights"}).content.decode()
    own_url = reverse("runs:run-detail", args=["lab", "qm9", "baseline", 7])
    other_url = reverse("runs:run-detail", args=["lab", "qm9", "sweep", 3])
    assert f'<a href="{own_url}">Baseline #7</a>' in body
    assert f'<a href="{other_url}">Sweep #3</a>' in body
    assert "/ Baseline #7" in body  # the run-scoped row's scope
