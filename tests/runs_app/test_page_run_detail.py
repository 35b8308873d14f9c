"""The run page shows the run's whole record read-only; the short URL redirects to it."""

from __future__ import annotations

import pytest

from runs_app.choices import RunStatus, Trigger
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def full_run(experiment, editor):
    run = f.RunFactory(
        experiment=experiment,
        number=7,
        status=RunStatus.FAILED,
        params={"lr": 0.01},
        profile="gpu-large",
        config={"lr": 0.01, "epochs": 40},
        config_hash="feedbeef" * 8,
        workflow_snapshot={"source_sha256": "ab" * 32, "workflow_name": "train", "git_diff": "+changed line"},
        results={"mae": 0.123},
        error={"type": "ValueError", "message": "bad shape", "task": "train", "execution": 2},
        launched_by=editor,
    )
    first = f.ExecutionFactory(run=run, number=1, status="lost", worker_hostname="node-a")
    second = f.ExecutionFactory(run=run, number=2, trigger=Trigger.RETRY, status="failed", worker_hostname="node-b")
    f.TaskExecutionFactory(execution=first, task_name="featurize", status="succeeded")
    f.TaskExecutionFactory(execution=second, task_name="featurize", status="succeeded", reused=True)
    f.TaskExecutionFactory(execution=second, task_name="train", status="failed")
    f.RunEventFactory(run=run, from_status="running", to_status="lost", message="No heartbeat for 60 s")
    f.MetricFactory(run=run, key="loss", step=1, value=0.9)
    f.MetricFactory(run=run, key="loss", step=2, value=0.4)
    return run


def test_run_page_shows_the_record(web_client_for, full_run):
    response = web_client_for("viewer").get("/w/lab/p/qm9/e/baseline/runs/7/")
    body = response.content.decode()
    for text in (
        "gpu-large", "feedbeef", "&quot;epochs&quot;: 40", "mae", "0.123", "ValueError", "bad shape",
        "node-a", "node-b", "Retry", "reused", "No heartbeat for 60 s", "+changed line", "source_sha256",
    ):  # fmt: skip
        assert text in body, text


def test_metrics_table_shows_the_last_value_per_key(web_client_for, full_run):
    response = web_client_for("viewer").get(full_run.get_absolute_url())
    metrics = list(response.context["metrics"])
    assert [(m.key, m.step, m.value) for m in metrics] == [("loss", 2, 0.4)]


def test_run_page_links_produced_assets_through_the_catalog(web_client_for, full_run):
    body = web_client_for("viewer").get(full_run.get_absolute_url()).content.decode()
    assert f"/catalog/?producer_run={full_run.pk}" in body


def test_run_by_id_redirects_to_the_human_url(web_client_for, full_run):
    response = web_client_for("viewer").get(f"/runs/{full_run.pk}/")
    assert response.status_code == 302
    assert response["Location"] == "/w/lab/p/qm9/e/baseline/runs/7/"


def test_unknown_run_number_is_404(web_client_for, full_run):
    assert web_client_for("owner").get("/w/lab/p/qm9/e/baseline/runs/99/").status_code == 404
