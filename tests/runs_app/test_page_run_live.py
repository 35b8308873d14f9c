"""The live run page: queue position, worker and heartbeat, task bars, source diff, metric series,
and the assets_app fragments (inputs used, log tail, error trace) of a run executed in-process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs_app.choices import ExecutionStatus, RunStatus, TaskStatus
from runs_app.models import Metric
from runs_app.services import execution_run, run_launch
from tests import factories as f

pytestmark = pytest.mark.django_db


def _launch(user, experiment, callbacks_fixture, **kwargs):
    with callbacks_fixture(execute=False):
        [run] = run_launch(user=user, experiment=experiment, **kwargs)
    return run


def test_status_fragment_shows_the_queue_position(web_client_for, experiment):
    runs = []
    for number in (1, 2, 3):
        run = f.RunFactory(experiment=experiment, number=number, status=RunStatus.QUEUED)
        f.ExecutionFactory(run=run, number=1, status=ExecutionStatus.QUEUED)
        runs.append(run)
    body = web_client_for("viewer").get(f"/runs/{runs[2].pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="queue-position"' in body and "position <strong>3</strong> in the queue" in body
    body = web_client_for("viewer").get(f"/runs/{runs[0].pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert "position <strong>1</strong>" in body


def test_status_fragment_shows_the_worker_and_the_heartbeat_age(web_client_for, experiment):
    run = f.RunFactory(experiment=experiment, status=RunStatus.RUNNING)
    f.ExecutionFactory(
        run=run, number=1, status=ExecutionStatus.RUNNING, worker_hostname="node-7", worker_pid=4242,
        started_at=timezone.now() - timedelta(seconds=60), heartbeat_at=timezone.now() - timedelta(seconds=12),
    )  # fmt: skip
    body = web_client_for("viewer").get(f"/runs/{run.pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert "<code>node-7</code> pid 4242" in body
    assert "heartbeat 12 s ago" in body or "heartbeat 13 s ago" in body
    assert "queue-position" not in body


def test_status_fragment_asks_for_a_refresh_when_the_status_moved_on(web_client_for, experiment):
    run = f.RunFactory(experiment=experiment, status=RunStatus.SUCCEEDED)
    client = web_client_for("viewer")
    moved = client.get(f"/runs/{run.pk}/status/?seen=running", HTTP_HX_REQUEST="true")
    assert moved.status_code == 286 and moved["HX-Refresh"] == "true"
    same = client.get(f"/runs/{run.pk}/status/?seen=succeeded", HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in same


def test_task_bars_are_proportional_and_mark_reused_tasks(web_client_for, experiment):
    t0 = timezone.now() - timedelta(seconds=100)
    run = f.RunFactory(experiment=experiment, status=RunStatus.SUCCEEDED)
    ex = f.ExecutionFactory(run=run, number=1, status=ExecutionStatus.SUCCEEDED, started_at=t0,
                            finished_at=t0 + timedelta(seconds=100))  # fmt: skip
    f.TaskExecutionFactory(execution=ex, task_name="load", status=TaskStatus.SUCCEEDED, reused=True,
                           started_at=t0, finished_at=t0)  # fmt: skip
    f.TaskExecutionFactory(execution=ex, task_name="train", status=TaskStatus.SUCCEEDED,
                           started_at=t0 + timedelta(seconds=25), finished_at=t0 + timedelta(seconds=75))  # fmt: skip
    body = web_client_for("viewer").get(run.get_absolute_url()).content.decode()
    assert 'class="molexp-gantt-bar status-succeeded" style="left: 25.00%; width: 50.00%;"' in body
    assert "molexp-gantt-bar status-succeeded is-reused" in body
    assert '<span class="badge text-bg-info">reused</span>' in body


def test_timeline_fragment_polls_until_the_run_ends(web_client_for, experiment):
    running = f.RunFactory(experiment=experiment, status=RunStatus.RUNNING)
    done = f.RunFactory(experiment=experiment, status=RunStatus.FAILED)
    client = web_client_for("viewer")
    response = client.get(f"/runs/{running.pk}/timeline/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'hx-trigger="every 3s"' in response.content.decode()
    assert client.get(f"/runs/{done.pk}/timeline/", HTTP_HX_REQUEST="true").status_code == 286


def test_run_page_queries_constant_with_executions_tasks_and_events(web_client_for, run):
    run.status = RunStatus.RUNNING
    run.save()
    state = {"n": 0}

    def grow(n):
        for _ in range(n):
            state["n"] += 1
            ex = f.ExecutionFactory(run=run, number=state["n"], status=ExecutionStatus.FAILED,
                                    started_at=timezone.now(), finished_at=timezone.now())  # fmt: skip
            for _ in range(3):
                f.TaskExecutionFactory(execution=ex, status=TaskStatus.SUCCEEDED, started_at=timezone.now(),
                                       finished_at=timezone.now())  # fmt: skip
            f.RunEventFactory(run=run, execution=ex)
            f.RunEventFactory(run=run, execution=ex, to_status="failed")
            f.MetricFactory(run=run, execution=ex, key=f"loss{state['n']}", step=1)

    client = web_client_for("editor")
    url = run.get_absolute_url()

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx)

    grow(2)
    client.get(url)
    small = count()
    grow(10)
    large = count()
    assert small == large, f"{small} queries with 2 executions, {large} with 12"
    assert large <= 16


def test_source_diff_is_identical_then_shows_the_change(
    web_client_for, chem_experiment, editor, workflow_dir, django_capture_on_commit_callbacks
):
    run = _launch(editor, chem_experiment, django_capture_on_commit_callbacks)
    body = web_client_for("viewer").get(run.get_absolute_url()).content.decode()
    assert '<span class="badge text-bg-success">identical</span>' in body
    source = workflow_dir / "chem.py"
    source.write_text(source.read_text().replace('dataset: str = "ligands.csv"', 'dataset: str = "other.csv"'))
    body = web_client_for("viewer").get(run.get_absolute_url()).content.decode()
    assert "changed since launch" in body
    assert "--- chem.py (run snapshot)" in body and "+++ chem.py (current)" in body
    assert "-def load(ctx, dataset: str = &quot;ligands.csv&quot;):" in body
    assert "+def load(ctx, dataset: str = &quot;other.csv&quot;):" in body


def test_metric_data_is_downsampled_and_scoped(web_client_for, run):
    Metric.objects.bulk_create(
        f.MetricFactory.build(run=run, key="loss", step=step, value=1.0 / (step + 1)) for step in range(1200)
    )
    client = web_client_for("viewer")
    data = client.get(f"/runs/{run.pk}/metrics/data/").json()
    series = data["series"]["loss"]
    assert series["total"] == 1200 and 0 < len(series["points"]) <= 500
    assert series["points"][-1] == [1199, pytest.approx(1.0 / 1200)]  # the last point is kept
    assert web_client_for("outsider").get(f"/runs/{run.pk}/metrics/data/").status_code == 404


def test_fragments_of_an_executed_run(web_client_for, chem_experiment, editor, django_capture_on_commit_callbacks):
    run = _launch(editor, chem_experiment, django_capture_on_commit_callbacks, profile="quick-test")
    assert execution_run(execution_id=run.executions.get().pk) == "succeeded"
    client = web_client_for("viewer")
    page = client.get(run.get_absolute_url()).content.decode()
    for url in (f"/assets/runs/{run.pk}/inputs/", f"/assets/runs/{run.pk}/logs/"):
        assert f'hx-get="{url}"' in page
    inputs = client.get(f"/assets/runs/{run.pk}/inputs/", HTTP_HX_REQUEST="true").content.decode()
    assert "ligands.csv" in inputs and "v1" in inputs and "<code>load</code>" in inputs
    logs = client.get(f"/assets/runs/{run.pk}/logs/", HTTP_HX_REQUEST="true")
    assert logs.status_code == 286  # the run ended: stop polling
    # A finished run shows the log written last by default (the task that ran last); each log by ?log=.
    from assets_app.models import Asset

    run_logs = list(Asset.objects.filter(run_id=run.pk, kind="log").order_by("created_at", "id"))
    assert f'<option value="{run_logs[-1].pk}"' in logs.content.decode()
    assert f"{run_logs[-1].name} · attempt 1" in logs.content.decode()
    texts = [
        client.get(f"/assets/runs/{run.pk}/logs/", {"log": log.pk}, HTTP_HX_REQUEST="true").content.decode()
        for log in run_logs
    ]
    assert any("2 molecules" in text for text in texts)
    found = client.get(f"/assets/runs/{run.pk}/logs/", {"q": "MOLECULES"}, HTTP_HX_REQUEST="true").content.decode()
    assert "match" in found
    assert 'id="metric-charts"' in page and f"/runs/{run.pk}/metrics/data/" in page
    assert client.get(f"/runs/{run.pk}/metrics/data/").json()["series"]["length"]["total"] == 2


def test_log_fragment_selects_a_log_and_polls_while_running(web_client_for, experiment, settings, tmp_path):
    from assets_app.services import log_append_lines, log_open

    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}  # fmt: skip
    run = f.RunFactory(experiment=experiment, status=RunStatus.RUNNING)
    first = log_open(run=run, execution=None, name="a-first")
    second = log_open(run=run, execution=None, name="b-second")
    log_append_lines(asset=first, lines=["from the first"])
    log_append_lines(asset=second, lines=["from the second <b>"])
    client = web_client_for("viewer")
    response = client.get(f"/assets/runs/{run.pk}/logs/?log={second.pk}", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and 'hx-trigger="every 2s"' in body
    assert "from the second &lt;b&gt;" in body and "from the first" not in body
    assert f'<option value="{second.pk}" selected>' in body
    assert web_client_for("outsider").get(f"/assets/runs/{run.pk}/logs/").status_code == 404


def test_error_fragment_shows_type_message_task_and_traceback(
    web_client_for, chem_experiment, editor, django_capture_on_commit_callbacks
):
    run = _launch(editor, chem_experiment, django_capture_on_commit_callbacks, profile="broken")
    assert execution_run(execution_id=run.executions.get().pk) == "failed"
    client = web_client_for("viewer")
    page = client.get(run.get_absolute_url()).content.decode()
    assert f'hx-get="/assets/runs/{run.pk}/error/"' in page
    body = client.get(f"/assets/runs/{run.pk}/error/", HTTP_HX_REQUEST="true").content.decode()
    assert "RuntimeError" in body and "featurize exploded on purpose" in body
    assert "<code>featurize</code>" in body
    assert "Traceback (most recent call last)" in body
    assert web_client_for("outsider").get(f"/assets/runs/{run.pk}/error/").status_code == 404
