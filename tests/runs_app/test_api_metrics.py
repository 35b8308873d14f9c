"""GET /api/runs/{id}/metrics/: series by key, filtered by ``?key=``, downsampled, at a constant query count."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets_app.models import Asset
from runs_app.models import Metric
from runs_app.selectors import metric_series
from tests import factories as f

pytestmark = pytest.mark.django_db


def _points(run, key, n, *, start=0):
    Metric.objects.bulk_create(
        [Metric(run=run, key=key, step=step, value=float(step) / 2) for step in range(start, start + n)]
    )


def test_series_by_key_in_step_order(api_client_for, run):
    Metric.objects.bulk_create(
        [
            Metric(run=run, key="loss", step=2, value=0.5),
            Metric(run=run, key="loss", step=0, value=2.0),
            Metric(run=run, key="loss", step=1, value=1.0),
            Metric(run=run, key="acc", step=None, value=0.9),
        ]
    )
    body = api_client_for("viewer").get(f"/api/runs/{run.pk}/metrics/").json()
    assert set(body["series"]) == {"loss", "acc"}
    assert [(p["step"], p["value"]) for p in body["series"]["loss"]] == [(0, 2.0), (1, 1.0), (2, 0.5)]
    assert body["series"]["acc"][0]["step"] is None
    assert body["series"]["acc"][0]["time"]
    assert body["counts"] == {"loss": 3, "acc": 1}


def test_key_filter_is_repeatable(api_client_for, run):
    for key in ("a", "b", "c"):
        _points(run, key, 2)
    body = api_client_for("viewer").get(f"/api/runs/{run.pk}/metrics/?key=a&key=c&key=missing").json()
    assert set(body["series"]) == {"a", "c"}


def test_run_without_metrics_has_empty_series(api_client_for, run):
    assert api_client_for("viewer").get(f"/api/runs/{run.pk}/metrics/").json() == {"series": {}, "counts": {}}


def test_metrics_of_other_runs_are_not_included(api_client_for, run):
    other = f.RunFactory(experiment=run.experiment, number=2)
    _points(other, "loss", 3)
    assert api_client_for("viewer").get(f"/api/runs/{run.pk}/metrics/").json()["series"] == {}


def test_long_series_is_downsampled_keeping_the_last_point(run):
    _points(run, "loss", 25)
    _points(run, "short", 3)
    series = metric_series(run=run, max_points=10)
    steps = [p.step for p in series["loss"]["points"]]
    # stride ceil(25 / 10) = 3, counted back from the last point
    assert steps == [0, 3, 6, 9, 12, 15, 18, 21, 24]
    assert series["loss"]["total"] == 25
    assert [p.step for p in series["short"]["points"]] == [0, 1, 2]


@pytest.mark.parametrize(("n", "max_points"), [(10, 10), (11, 10), (20, 10), (21, 10), (1, 1), (7, 1)])
def test_downsampling_bounds(run, n, max_points):
    _points(run, "k", n)
    steps = [p.step for p in metric_series(run=run, max_points=max_points)["k"]["points"]]
    assert len(steps) <= max_points
    assert steps[-1] == n - 1
    stride = math.ceil(n / max_points)
    assert all(b - a == stride for a, b in zip(steps, steps[1:], strict=False))


def test_api_bounds_each_key_to_2000_points(api_client_for, run):
    _points(run, "loss", 4500)
    body = api_client_for("viewer").get(f"/api/runs/{run.pk}/metrics/").json()
    points = body["series"]["loss"]
    assert len(points) <= 2000 and len(points) == math.ceil(4500 / 3)
    assert points[-1]["step"] == 4499
    assert body["counts"]["loss"] == 4500


def test_non_finite_values_are_null(api_client_for, run):
    Metric.objects.create(run=run, key="x", step=0, value=float("inf"))
    body = api_client_for("viewer").get(f"/api/runs/{run.pk}/metrics/").json()
    assert body["series"]["x"][0]["value"] is None


def test_query_count_is_constant(api_client_for, run):
    client = api_client_for("viewer")
    _points(run, "loss", 5)
    with CaptureQueriesContext(connection) as small:
        assert client.get(f"/api/runs/{run.pk}/metrics/").status_code == 200
    for key in ("acc", "lr", "grad"):
        _points(run, key, 2500)
    _points(run, "loss", 2500, start=5)
    with CaptureQueriesContext(connection) as large:
        body = client.get(f"/api/runs/{run.pk}/metrics/").json()
    assert len(body["series"]) == 4
    assert len(small) == len(large) <= 4


@pytest.mark.parametrize(
    ("role", "expected"), [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)]
)
def test_role_matrix(api_client_for, run, role, expected):
    response = api_client_for(role).get(f"/api/runs/{run.pk}/metrics/")
    assert response.status_code == expected
    if expected >= 400:
        assert response.json()["detail"]


def test_log_metric_nan_does_not_break_the_batch(run, tmp_path):
    """Non-finite points are dropped (with a note in the run's "metrics" log); the batch is kept."""
    from runs_app.workflow.context import RunContext

    execution = f.ExecutionFactory(run=run, number=1)
    ctx = RunContext(run=run, execution=execution, workdir=tmp_path / "work")
    ctx.log_metric("loss", 1.0, step=0)
    ctx.log_metric("loss", float("nan"), step=1)
    ctx.log_metric("loss", 0.5, step=2)
    ctx.flush()
    assert list(Metric.objects.filter(run=run, key="loss").values_list("step", flat=True)) == [0, 2]
    assert Asset.objects.get(run=run, name="metrics").line_count == 1
