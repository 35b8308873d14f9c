"""SPEC §15: the run-condition language (one parser for page and API), server-side sort, and the
experiment page's runs table (varying columns, "same for all", column chooser, sweep groups,
one run identity), at a constant number of queries."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs_app.choices import RunStatus
from runs_app.models import Metric, RunTablePreference
from runs_app.run_conditions import Condition, condition_parse, sort_parse
from runs_app.selectors.run_table import value_display

from .. import factories as f

pytestmark = pytest.mark.django_db

URL = "/w/lab/p/qm9/e/baseline/"


# --- the parser -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config.lr>=1e-3", Condition("config", ("lr",), ">=", 1e-3)),
        ("config.optimizer.name=adam", Condition("config", ("optimizer", "name"), "=", "adam")),
        ("params.seed = 1", Condition("params", ("seed",), "=", 1)),
        ("results.acc>0.9", Condition("results", ("acc",), ">", 0.9)),
        ("metrics.loss<0.2", Condition("metrics", ("loss",), "<", 0.2)),
        ('config.model<"m"', Condition("config", ("model",), "<", "m")),
        ("config.use_bn!=true", Condition("config", ("use_bn",), "!=", True)),
        ("status:failed", Condition("status", value="failed")),
        ("fingerprint:ABCDEF12", Condition("fingerprint", value="abcdef12")),
    ],
)
def test_valid_conditions_parse(text, expected):
    assert condition_parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "lr>=1",  # no source
        "cfg.lr=1",  # unknown source
        "config.=1",
        "config.a..b=1",
        "config.lr>fast",  # ordering needs a number or a quoted string
        'metrics.loss<"a"',  # metrics compare numbers
        "config.lr<NaN",
        "config.lr=",
        "status:exploded",
        "fingerprint:abc",  # too short
        "fingerprint:zzzzzzzz",
        "tag:has space",  # a tag is one word: an error, never ignored
    ],
)
def test_malformed_conditions_raise(text):
    with pytest.raises(ValidationError):
        condition_parse(text)


def test_sort_parse():
    assert sort_parse("-metrics.loss").descending and sort_parse("-metrics.loss").path == ("loss",)
    assert sort_parse("config.optimizer.lr").path == ("optimizer", "lr")
    assert sort_parse("number").source == "column"
    assert sort_parse("") is None
    for bad in ("config", "id; drop", "launched_by__password", "config..x"):
        with pytest.raises(ValidationError):
            sort_parse(bad)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.001, "0.001"), (1e-3, "0.001"), (3, "3"), (2.0, "2"), (0.1 + 0.2, "0.3"), (True, "true"), (None, "null"),
     ("gcn", "gcn"), ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'), (1e-7, "1e-07")],
)  # fmt: skip
def test_values_read_as_written(value, shown):
    assert value_display(value) == shown


# --- a 2x2 sweep ------------------------------------------------------------------------------


@pytest.fixture
def sweep(experiment, editor):
    """A 2x2 sweep (lr x layers; one launch: one sweep_id), plus an older single run."""
    older = f.RunFactory(
        experiment=experiment, number=1, config={"lr": 0.5, "layers": 2, "seed": 7}, status=RunStatus.FAILED
    )
    now = timezone.now()
    runs = []
    for i, (lr, layers) in enumerate([(1e-3, 2), (1e-3, 4), (1e-2, 2), (1e-2, 4)]):
        run = f.RunFactory(
            experiment=experiment, number=i + 2, config={"lr": lr, "layers": layers, "seed": 7},
            results={"acc": 0.8 + i / 100}, status=RunStatus.SUCCEEDED, launched_by=editor,
        )  # fmt: skip
        runs.append(run)
        Metric.objects.create(run=run, key="loss", step=1, value=1.0)
        Metric.objects.create(run=run, key="loss", step=2, value=0.5 - i / 10)
    from runs_app.models import Run

    Run.objects.filter(pk__in=[r.pk for r in runs]).update(created_at=now, sweep_id=uuid.uuid4())
    return [older, *runs]


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()["results"]]


def test_api_filter_and_sort(sweep, api_client_for):
    client = api_client_for("viewer")
    older, a, b, c, d = sweep
    assert sorted(_ids(client.get("/api/runs/?filter=config.lr>=5e-3"))) == sorted([older.pk, c.pk, d.pk])
    assert _ids(client.get("/api/runs/?filter=config.lr>=5e-3&filter=status:failed")) == [older.pk]
    assert _ids(client.get("/api/runs/?filter=config.layers=4&sort=-config.lr")) == [d.pk, b.pk]
    assert _ids(client.get("/api/runs/?sort=-metrics.loss")) == [a.pk, b.pk, c.pk, d.pk, older.pk]  # NULLs last
    assert _ids(client.get("/api/runs/?sort=metrics.loss")) == [d.pk, c.pk, b.pk, a.pk, older.pk]  # NULLs last
    assert _ids(client.get("/api/runs/?sort=results.acc")) == [a.pk, b.pk, c.pk, d.pk, older.pk]
    assert _ids(client.get("/api/runs/?filter=metrics.loss<0.35&sort=number")) == [c.pk, d.pk]
    assert _ids(client.get("/api/runs/?filter=params.seed=1")) == []
    # The older spellings run through the same parser.
    assert _ids(client.get("/api/runs/?result=acc>=0.82&sort=-number")) == [d.pk, c.pk]
    body = client.get("/api/runs/?sort=config.lr&page_size=2").json()
    assert body["next"] and "page=2" in body["next"] and body["count"] == 5
    assert len(client.get(body["next"]).json()["results"]) == 2


@pytest.mark.parametrize("query", ["filter=config.lr>>1", "filter=tag:a b", "filter=status:nope", "sort=config"])
def test_api_malformed_is_400_with_a_message(sweep, api_client_for, query):
    response = api_client_for("viewer").get(f"/api/runs/?{query}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert "filter" in body or "sort" in body, body


def test_outsider_sees_nothing_through_filters(sweep, api_client_for):
    body = api_client_for("outsider").get("/api/runs/?filter=config.lr>0&sort=config.lr").json()
    assert body["results"] == [] and body["count"] == 0


def test_page_shows_varying_columns_and_folds_constant(sweep, web_client_for):
    response = web_client_for("viewer").get(URL)
    assert response.status_code == 200
    table = response.context["table"]
    keys = [c.key for c in table.columns]
    assert keys == ["config.layers", "config.lr", "results.acc", "metrics.loss"]
    assert ("config.seed", "7") in table.constant
    html = response.content.decode()
    assert "Same for all:" in html and "0.001" in html and "1e-03" not in html
    assert "Baseline #3" in html  # one run identity
    assert "Launched together: 4 runs" in html  # the sweep is one group
    assert 'name="runs"' in html  # select for compare


def test_sweep_groups_follow_the_launch_id_not_the_clock(sweep, web_client_for):
    """Two launches in the same second are two groups; runs without a sweep id are never grouped."""
    from runs_app.models import Run

    older, a, b, c, d = sweep
    Run.objects.filter(pk__in=[c.pk, d.pk]).update(sweep_id=uuid.uuid4())
    Run.objects.filter(pk=older.pk).update(created_at=a.created_at)
    html = web_client_for("viewer").get(URL).content.decode()
    assert html.count("Launched together: 2 runs") == 2 and "Launched together: 3" not in html


def test_page_filter_and_sort(sweep, web_client_for):
    client = web_client_for("viewer")
    older, a, b, c, d = sweep
    response = client.get(URL + "?filter=config.layers=2&sort=-config.lr")
    assert [row.run.pk for row in response.context["table"].rows] == [older.pk, c.pk, a.pk]
    assert "sort=config.lr" in response.content.decode()  # the header link flips the order
    response = client.get(URL + "?filter=config.lr=0.001&sort=config.layers")
    rows = response.context["table"].rows
    assert [row.run.pk for row in rows] == [a.pk, b.pk]
    assert [c.key for c in response.context["table"].columns] == ["config.layers", "results.acc", "metrics.loss"]


@pytest.mark.parametrize("query", ["?filter=config.lr>fast", "?filter=tag:a%20b", "?sort=nope", "?param=lr<x"])
def test_page_malformed_filter_is_an_error_and_no_rows(sweep, web_client_for, query):
    response = web_client_for("viewer").get(URL + query)
    assert response.status_code == 400
    assert response.context["table"].rows == []
    assert response.context["page_error"]
    assert 'id="run-table-error"' in response.content.decode()


def test_workspace_runs_page_uses_the_same_language(sweep, web_client_for):
    client = web_client_for("viewer")
    older, a, b, c, d = sweep
    response = client.get("/w/lab/runs/?filter=config.lr>=5e-3&sort=config.lr")
    assert [r.pk for r in response.context["page"].object_list] == [d.pk, c.pk, older.pk]  # ties: newest first
    response = client.get("/w/lab/runs/?filter=config.lr>=fast")
    assert response.status_code == 400 and list(response.context["page"].object_list) == []


def test_column_chooser_is_remembered_per_user_and_experiment(sweep, web_client_for, viewer, editor, experiment):
    client = web_client_for("viewer")
    offered = ["config.layers", "config.lr", "results.acc", "metrics.loss"]
    response = client.post(
        URL + "columns/", {"offered": offered, "show": ["config.lr", "metrics.loss"], "next": "?sort=config.lr"}
    )
    assert response.status_code == 302 and response["Location"].endswith("?sort=config.lr")
    assert RunTablePreference.objects.get(user=viewer, experiment=experiment).hidden == ["config.layers", "results.acc"]
    shown = [c.key for c in client.get(URL).context["table"].shown]
    assert shown == ["config.lr", "metrics.loss"]
    # Another user's table is untouched.
    assert len(web_client_for("editor").get(URL).context["table"].shown) == 4
    # Showing a column again forgets it was hidden; a column not offered keeps its earlier choice.
    client.post(URL + "columns/", {"offered": ["config.layers"], "show": ["config.layers"]})
    assert RunTablePreference.objects.get(user=viewer, experiment=experiment).hidden == ["results.acc"]


def test_column_chooser_refuses_outsiders(sweep, web_client_for):
    response = web_client_for("outsider").post(URL + "columns/", {"offered": ["config.lr"]})
    assert response.status_code == 404
    assert not RunTablePreference.objects.exists()


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return len(ctx)


@pytest.mark.parametrize("query", ["", "?sort=-config.lr", "?filter=config.lr>0&sort=metrics.loss"])
def test_runs_table_queries_constant_at_two_sizes(experiment, web_client_for, owner, query):
    def grow(n):
        for i in range(n):
            run = f.RunFactory(experiment=experiment, config={"lr": i / 10, "k": i % 3}, results={"acc": i})
            Metric.objects.create(run=run, key="loss", step=1, value=i)

    client = web_client_for("viewer")
    grow(3)
    client.get(URL + query, headers={"HX-Request": "true"})  # warm caches
    small = _count(client, URL + query)
    grow(30)
    large = _count(client, URL + query)
    assert small == large <= 6, (small, large)


def test_one_run_identity_on_run_page_clone_provenance_and_catalog(experiment, web_client_for):
    from assets_app.services import asset_create

    original = f.RunFactory(experiment=experiment, number=1)
    clone = f.RunFactory(experiment=experiment, number=2, cloned_from=original)
    asset_create(kind="artifact", name="model.pt", run=clone, producer_task="train")
    client = web_client_for("viewer")
    body = client.get(f"{URL}runs/2/").content.decode()
    assert "<title>Baseline #2" in body and ">Baseline #2</h1>" in body
    assert ">Baseline #1</a>" in body  # cloned from
    assert "run id" not in body
    catalog = client.get("/catalog/?q=model").content.decode()
    assert "Baseline #2" in catalog and "run id" not in catalog


def test_workspace_runs_page_formats_result_values(experiment, web_client_for):
    f.RunFactory(experiment=experiment, results={"lr_found": 1e-5, "layers": {"b": 2, "a": 1}, "n": 3.0})
    body = web_client_for("viewer").get("/w/lab/runs/").content.decode()
    assert "=1e-05<" in body and "={&quot;a&quot;:1,&quot;b&quot;:2}<" in body and "=3<" in body
    assert "{&#x27;b&#x27;" not in body  # no Python repr


def test_sorted_page_is_paged_by_number(experiment, web_client_for):
    for i in range(30):
        f.RunFactory(experiment=experiment, number=i + 1, config={"lr": (i * 7) % 30})
    client = web_client_for("viewer")
    first = client.get(URL + "?sort=config.lr")
    lrs = [row.run.config["lr"] for row in first.context["table"].rows]
    assert lrs == list(range(25))
    assert "sort=config.lr&amp;page=2" in first.content.decode()
    second = client.get(URL + "?sort=config.lr&page=2")
    assert [row.run.config["lr"] for row in second.context["table"].rows] == list(range(25, 30))
    assert client.get(URL + "?sort=config.lr&page=9").status_code == 400  # past the end: page 1 and a message
