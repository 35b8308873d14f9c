"""Finding runs by parameter, result and metric conditions across experiments (``/api/runs/?param=…``).

``param``/``result`` test a JSON key (dot path) of the run's params or results;
``metric`` tests the last value a run logged for a metric (highest step). All
conditions must hold; a malformed one is a 400 naming it, never a 500.
"""

from __future__ import annotations

import pytest

from runs_app.models import Metric

from .. import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(project, ws):
    other_experiment = f.ExperimentFactory(project=project, workspace=ws)
    first = f.ExperimentFactory(project=project, workspace=ws)
    specs = [
        (first, {"lr": 0.1, "model": "gcn", "optimizer": {"name": "adam", "lr": 1e-3}, "isnull": 1}, {"acc": 0.91}),
        (first, {"lr": 0.01, "model": "mpnn", "optimizer": {"name": "sgd", "lr": 1e-2}}, {"acc": 0.85}),
        (other_experiment, {"lr": 0.1, "model": "mpnn", "optimizer": {"name": "adam", "lr": 5e-4}}, {"acc": 0.95}),
        (other_experiment, {"lr": 0.5, "model": "gcn", "use_bn": True}, {}),
    ]
    made = []
    for experiment, params, results in specs:
        made.append(f.RunFactory(experiment=experiment, params=params, results=results))
    # loss: the last point (highest step) decides, not the smallest or the latest id.
    for run, points in zip(made, [[(0, 0.9), (2, 0.15), (1, 0.05)], [(0, 0.4)], [(5, 0.3), (9, 0.1)], []], strict=True):
        for step, value in points:
            Metric.objects.create(run=run, key="loss", step=step, value=value)
    return made


def _numbers(response) -> list[int]:
    assert response.status_code == 200, response.content
    return sorted(r["id"] for r in response.json()["results"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("param=lr=0.1", [0, 2]),
        ("param=model=gcn", [0, 3]),
        ('param=model="gcn"', [0, 3]),
        ("param=optimizer.name=adam", [0, 2]),
        ("param=optimizer.lr<=1e-3", [0, 2]),
        ("param=lr>0.05&param=model=mpnn", [2]),
        ("param=lr!=0.1", [1, 3]),
        ("param=use_bn=true", [3]),
        ("param=isnull=1", [0]),  # a key named like a lookup is still a key
        ("result=acc>=0.9", [0, 2]),
        ("result=acc>0.9&param=model=gcn", [0]),
        ("metric=loss<0.2", [0, 2]),  # run 0's last loss is 0.15 (step 2), not its minimum 0.05
        ("metric=loss>0.2", [1]),
        ("metric=loss<0.2&result=acc>0.92", [2]),
        ("param=missing=1", []),
    ],
)
def test_conditions_select_runs_across_experiments(runs, api_client_for, query, expected):
    response = api_client_for("viewer").get(f"/api/runs/?{query}")
    assert _numbers(response) == sorted(runs[i].pk for i in expected)


@pytest.mark.parametrize(
    "query",
    [
        "param=lr",
        "param=lr=",
        "param==1",
        "param=lr<fast",
        "param=lr>true",
        "metric=loss=abc",
        "param=a..b=1",
        "param=lr<NaN",
        "&".join(["param=lr=1"] * 11),
    ],
)
def test_malformed_conditions_are_a_400_naming_the_problem(runs, api_client_for, query):
    response = api_client_for("viewer").get(f"/api/runs/?{query}")
    assert response.status_code == 400, response.content
    assert "param" in response.json() or "metric" in response.json() or "detail" in response.json()


def test_outsiders_find_nothing_and_counts_do_not_leak(runs, api_client_for):
    body = api_client_for("outsider").get("/api/runs/?param=lr=0.1").json()
    assert body["results"] == [] and body["count"] == 0


def test_conditions_keep_the_list_within_six_queries(runs, api_client_for, django_assert_max_num_queries):
    client = api_client_for("viewer")
    with django_assert_max_num_queries(6):
        response = client.get("/api/runs/?param=lr=0.1&result=acc>0.5&metric=loss<1&page_size=100")
    assert len(response.json()["results"]) == 2


def test_workspace_runs_page_takes_the_same_conditions(runs, web_client_for, ws):
    response = web_client_for("viewer").get(f"/w/{ws.slug}/runs/?param=model=gcn&metric=loss<0.2")
    assert response.status_code == 200
    shown = response.context["page"].object_list if "page" in response.context else response.context["runs"]
    assert sorted(r.pk for r in shown) == [runs[0].pk]
