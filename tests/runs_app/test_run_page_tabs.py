"""The run page in tabs (SPEC §15): error first, the way to relaunch as the policy allows, a log
viewer that follows the active task by attempt and searches, pending tasks in the bars."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from runs_app.choices import RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db


def _failed(experiment):
    run = f.RunFactory(
        experiment=experiment,
        status=RunStatus.FAILED,
        error={"type": "ValueError", "message": "bad molecule", "task": "featurize"},
        workflow_snapshot={"tasks": ["load", "featurize", "summarize"]},
        finished_at=timezone.now(),
    )
    ex = f.ExecutionFactory(run=run, number=1, status="failed", finished_at=timezone.now())
    f.TaskExecutionFactory(execution=ex, task_name="load", status="succeeded")
    f.TaskExecutionFactory(execution=ex, task_name="featurize", status="failed")
    return run


def test_a_failed_run_shows_its_error_before_the_tabs_with_a_way_to_relaunch(web_client_for, experiment):
    run = _failed(experiment)
    html = web_client_for("editor").get(run.get_absolute_url()).content.decode()
    assert html.index('id="run-error-card"') < html.index('id="run-tabs"')
    for tab in ("overview", "metrics", "logs", "assets", "provenance"):
        assert f'id="tab-{tab}"' in html
    fix = html[html.index('id="run-fix-path"') :][:900]
    assert "Resume" in fix and "Rerun" in fix and "log of featurize" in fix
    assert "clone it with overrides" not in fix  # no stored snapshot: the policy refuses a clone
    # tags and notes (SPEC §14) sit in the Overview tab
    assert html.index('id="tab-overview"') < html.index('id="run-notes"') < html.index('id="tab-metrics"')
    # summarize never ran: it is in the bars, marked as not run
    assert "summarize" in html and "not run" in html
    # a viewer may not relaunch: the card says who can
    viewer = web_client_for("viewer").get(run.get_absolute_url()).content.decode()
    assert "ask an editor" in viewer and "Resume" not in viewer


def test_the_checkpoints_are_apart_and_metrics_wait_for_their_first_point(web_client_for, experiment):
    run = f.RunFactory(experiment=experiment, status=RunStatus.RUNNING)
    html = web_client_for("viewer").get(run.get_absolute_url()).content.decode()
    assert f"producer_run={run.pk}&amp;kind=checkpoint" in html and f"producer_run={run.pk}&amp;kind=artifact" in html
    assert 'id="metric-charts"' in html and 'data-terminal="0"' in html
    assert "the charts appear when the first point arrives" in html
    assert "<script>" not in html and "nonce" not in html.split("</head>")[1]  # code in static files


def test_the_log_viewer_follows_the_running_task_by_attempt_and_searches(
    web_client_for, experiment, settings, tmp_path, django_assert_max_num_queries
):
    from assets_app.services import log_append_lines, log_open

    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}  # fmt: skip
    run = f.RunFactory(experiment=experiment, status=RunStatus.RUNNING)
    old = f.ExecutionFactory(run=run, number=1, status="failed")
    new = f.ExecutionFactory(run=run, number=2, status="running")
    f.TaskExecutionFactory(execution=new, task_name="load", status="succeeded", started_at=timezone.now(),
                           finished_at=timezone.now())  # fmt: skip
    f.TaskExecutionFactory(execution=new, task_name="train", status="running", started_at=timezone.now())
    earlier = log_open(run=run, execution=old, name="a-load-old", task="load")
    log_append_lines(asset=earlier, lines=["attempt one"])
    loading = log_open(run=run, execution=new, name="a-load", task="load")
    log_append_lines(asset=loading, lines=["loaded 10 rows"])
    training = log_open(run=run, execution=new, name="z-train", task="train")
    log_append_lines(asset=training, lines=["epoch 1 loss 0.5", "epoch 2 loss 0.4", "checkpoint saved"])
    loading.save()  # the alphabetically first log is the newest written: the viewer still follows train
    client = web_client_for("viewer")
    with django_assert_max_num_queries(6):  # session, user, run, logs, active task (+ savepoints)
        body = client.get(f"/assets/runs/{run.pk}/logs/", HTTP_HX_REQUEST="true").content.decode()
    assert "epoch 2 loss 0.4" in body and "loaded 10 rows" not in body
    assert "following <code>train</code>" in body
    assert '<optgroup label="Attempt 2">' in body and '<optgroup label="Attempt 1">' in body
    assert body.index('label="Attempt 2"') < body.index('label="Attempt 1"')
    polling = re.search(r'id="run-logs-body" hx-get="([^"]*)"', body)[1]
    assert "log=" not in polling  # following: the next poll follows whichever task runs then
    found = client.get(f"/assets/runs/{run.pk}/logs/", {"q": "EPOCH"}, HTTP_HX_REQUEST="true").content.decode()
    assert "epoch 1 loss 0.5" in found and "checkpoint saved" not in found and "2 of the last 3 lines match" in found
    pinned = client.get(f"/assets/runs/{run.pk}/logs/", {"log": earlier.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert "attempt one" in pinned and f"log={earlier.pk}" in pinned
