"""Charts across runs (SPEC §15): the selector's downsampling, the page and ``/api/runs/series/``."""

from __future__ import annotations

import pytest
from django.urls import reverse

from runs_app import selectors
from runs_app.models import Metric
from tests.factories import MetricFactory, RunFactory

pytestmark = pytest.mark.django_db


def _sweep(experiment, *, points=5):
    """A 2×2 sweep: lr × batch, with a loss curve each."""
    runs = []
    for i, (lr, batch) in enumerate([(0.1, 16), (0.1, 32), (0.01, 16), (0.01, 32)]):
        run = RunFactory(experiment=experiment, number=i + 1, config={"lr": lr, "batch": batch, "model": "mlp"})
        Metric.objects.bulk_create(
            [Metric(run=run, key="loss", step=s, value=1.0 / (s + 1) + lr) for s in range(points)]
            + [Metric(run=run, key="acc", step=s, value=s / points) for s in range(points)]
        )
        runs.append(run)
    return runs


def test_short_series_are_whole_and_long_ones_sampled_with_first_and_last(experiment):
    short, long = RunFactory(experiment=experiment), RunFactory(experiment=experiment)
    Metric.objects.bulk_create([Metric(run=short, key="loss", step=s, value=s) for s in range(30)])
    Metric.objects.bulk_create([Metric(run=long, key="loss", step=s * 3, value=-s) for s in range(5000)])
    series = selectors.chart_series(run_ids=[short.pk, long.pk], key="loss", max_points=100)
    assert [p[0] for p in series[short.pk]["points"]] == list(range(30))
    assert series[short.pk]["sampled"] is False
    points = series[long.pk]["points"]
    assert series[long.pk]["sampled"] is True
    assert len(points) <= 100 and len(points) >= 90
    assert points[0][0] == 0 and points[-1][0] == 4999 * 3  # first and last kept
    assert [p[0] for p in points] == sorted(p[0] for p in points)
    assert all(p[2] == -p[0] / 3 for p in points)  # each value belongs to its step
    assert all(isinstance(p[1], int) and p[1] > 1.7e12 for p in points)  # wall time in epoch milliseconds


def test_a_long_run_without_steps_falls_back_to_every_nth_point(experiment):
    run = RunFactory(experiment=experiment)
    Metric.objects.bulk_create([Metric(run=run, key="loss", step=None, value=i) for i in range(500)])
    series = selectors.chart_series(run_ids=[run.pk], key="loss", max_points=50)
    assert 1 <= len(series[run.pk]["points"]) <= 50
    assert series[run.pk]["points"][-1][2] == 499


def test_metric_keys_skip_along_the_index(experiment):
    a, b = RunFactory(experiment=experiment), RunFactory(experiment=experiment)
    MetricFactory(run=a, key="loss")
    MetricFactory(run=a, key="acc")
    MetricFactory(run=b, key="val/loss")
    assert selectors.chart_metric_keys(run_ids=[a.pk, b.pk]) == ["acc", "loss", "val/loss"]
    assert selectors.chart_metric_keys(run_ids=[]) == []


def test_api_series_of_a_sweep_names_runs_and_varying_keys(api_client_for, experiment, django_assert_max_num_queries):
    runs = _sweep(experiment)
    client = api_client_for("viewer")
    url = reverse("run-series")
    with django_assert_max_num_queries(12):
        response = client.get(url, {"experiment": experiment.pk, "key": "loss"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["key"] == "loss" and body["keys"] == ["acc", "loss"]
    assert body["columns"] == ["config.batch", "config.lr"]  # model is the same for all
    assert [r["label"] for r in body["runs"]] == [f"{experiment.name} #{n}" for n in (1, 2, 3, 4)]
    assert {r["values"]["config.lr"] for r in body["runs"]} == {"0.1", "0.01"}
    assert all(len(r["points"]) == 5 for r in body["runs"])
    assert body["runs"][0]["points"][0][0] == 0 and body["runs"][0]["points"][0][2] == pytest.approx(1.1)
    # The selection of the runs table and the run conditions narrow the runs.
    two = client.get(url, {"experiment": experiment.pk, "runs": f"{runs[0].pk},{runs[3].pk}"}).json()
    assert [r["number"] for r in two["runs"]] == [1, 4]
    assert two["key"] == "acc"  # the first key when none is asked
    # ... spelled as the runs table sends them: <ws>/<project>/<experiment>:<number>, then bare numbers
    exp_ref = f"{experiment.workspace.slug}/{experiment.project.slug}/{experiment.slug}"
    named = client.get(url, {"experiment": experiment.pk, "runs": [f"{exp_ref}:2", f"{experiment.slug}:3,1"]})
    assert [r["number"] for r in named.json()["runs"]] == [1, 2, 3]
    other = client.get(url, {"experiment": experiment.pk, "runs": "elsewhere:1"})
    assert other.status_code == 400 and b"is not a run of" in other.content
    small = client.get(url, {"experiment": experiment.pk, "filter": "config.lr<0.05", "key": "loss"}).json()
    assert [r["number"] for r in small["runs"]] == [3, 4]


@pytest.mark.parametrize(
    "query",
    [
        {"filter": "config.lr>>1"},
        {"x": "epoch"},
        {"max_points": "1"},
        {"max_points": "999999"},
        {"runs": "1,abc"},
        {"smooth": "2"},
    ],
)
def test_api_bad_queries_are_400_with_a_message(api_client_for, experiment, query):
    _sweep(experiment, points=2)
    response = api_client_for("viewer").get(reverse("run-series"), {"experiment": experiment.pk, **query})
    assert response.status_code == 400
    assert response.content and b"runs" not in response.content[:2]


def test_api_needs_membership_and_an_experiment(api_client_for, experiment):
    _sweep(experiment, points=2)
    url = reverse("run-series")
    assert api_client_for("outsider").get(url, {"experiment": experiment.pk}).status_code == 404
    assert api_client_for("anonymous").get(url, {"experiment": experiment.pk}).status_code in (401, 403)
    assert api_client_for("viewer").get(url).status_code == 400


def test_runs_of_another_experiment_are_never_charted(api_client_for, experiment, other_ws):
    mine = _sweep(experiment, points=2)
    foreign = RunFactory(experiment__project__workspace=other_ws)
    MetricFactory(run=foreign, key="loss", step=0)
    body = (
        api_client_for("viewer")
        .get(reverse("run-series"), {"experiment": experiment.pk, "runs": f"{mine[0].pk},{foreign.pk}"})
        .json()
    )
    assert [r["id"] for r in body["runs"]] == [mine[0].pk]


def test_page_embeds_the_same_data_at_a_constant_query_count(web_client_for, experiment, django_assert_max_num_queries):
    _sweep(experiment)
    url = reverse("runs:experiment-charts", args=[experiment.workspace.slug, experiment.project.slug, experiment.slug])
    client = web_client_for("viewer")
    with django_assert_max_num_queries(14):
        response = client.get(url, {"key": "loss", "color": "config.lr"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-data"' in html and f"{experiment.name} #4" in html
    assert '<option value="config.lr" selected>' in html
    assert "<script>" not in html  # CSP: data in json_script, code in static files
    bad = client.get(url, {"filter": "config.lr>>1"})
    assert bad.status_code == 400 and "chart-data" not in bad.content.decode()
    assert web_client_for("outsider").get(url).status_code == 404


def test_a_finished_runs_series_is_cached_until_it_finishes_again(experiment, django_assert_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    run = RunFactory(experiment=experiment, status="succeeded", finished_at=timezone.now())
    Metric.objects.bulk_create([Metric(run=run, key="loss", step=s, value=s) for s in range(10)])
    first = selectors.chart_series_cached(runs=[run], key="loss")
    assert len(first[run.pk]["points"]) == 10
    with django_assert_num_queries(0):
        assert selectors.chart_series_cached(runs=[run], key="loss") == first
    MetricFactory(run=run, key="loss", step=10, value=10.0)  # a rerun wrote more, then finished again
    run.finished_at += timedelta(seconds=5)
    assert len(selectors.chart_series_cached(runs=[run], key="loss")[run.pk]["points"]) == 11
    active = RunFactory(experiment=experiment, status="running")
    MetricFactory(run=active, key="loss", step=0)
    selectors.chart_series_cached(runs=[active], key="loss")
    MetricFactory(run=active, key="loss", step=1)
    assert len(selectors.chart_series_cached(runs=[active], key="loss")[active.pk]["points"]) == 2
