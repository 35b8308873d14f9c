"""Runs launched through the service execute in a real worker process, on both configurations.

Each test starts a real ``celery worker`` (see conftest.py) against the suite's
database and broker: embedded SQLite + ``filesystem://`` or PostgreSQL + Redis.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.conf import settings as django_settings

from assets_app.models import Asset, AssetUse
from assets_app.services import asset_create, blob_store_bytes
from molexp_site.celery import app
from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.models import Execution, Metric, Run, RunEvent, TaskExecution
from runs_app.services import experiment_create, run_cancel, run_launch, run_resume

from .conftest import purge_queues, wait_until
from .lifecycle_workflow import MOLCFG, WORKFLOW

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST_WORKER = {
    "MOLEXP_HEARTBEAT_SECONDS": "1",
    "MOLEXP_LOST_AFTER_SECONDS": "4",
    "MOLEXP_REDISPATCH_AFTER_SECONDS": "2",
}


@pytest.fixture
def lifecycle(project, editor, settings, tmp_path):
    wf = tmp_path / "workflows"
    wf.mkdir()
    (wf / "lifecycle.py").write_text(WORKFLOW)
    (wf / "molcfg.yaml").write_text(MOLCFG)
    settings.MOLEXP_WORKFLOW_DIRS = [str(wf)]
    asset_create(kind="data", name="numbers.txt", workspace=project.workspace, blob=blob_store_bytes(b"1 2 3 4 5 6 7"))
    return experiment_create(user=editor, project=project, name="Lifecycle", workflow_source="lifecycle.py")


def _env(extra: dict | None = None) -> dict:
    return {
        "MOLEXP_WORKFLOW_DIRS": os.pathsep.join(django_settings.MOLEXP_WORKFLOW_DIRS),
        **FAST_WORKER,
        **(extra or {}),
    }


def _status(run: Run) -> str:
    return Run.objects.get(pk=run.pk).status


def _maintain_until(condition, timeout: float) -> bool:
    """Send runs.maintenance every second (as beat would) until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        app.send_task("runs.maintenance", queue="default")
        wait_until(condition, timeout=1.0)
    return condition()


def test_launch_runs_to_success_with_every_record(lifecycle, editor, celery_worker):
    worker = celery_worker(env=_env())
    [run] = run_launch(user=editor, experiment=lifecycle, profile="quick-check", overrides=["marker=it"])
    assert wait_until(lambda: _status(run) == RunStatus.SUCCEEDED, timeout=60), worker.log_tail()
    run = Run.objects.get(pk=run.pk)
    assert run.profile == "quick_check" and run.config == {"n": 3, "marker": "it"}
    assert run.results == {"total": 6, "echoed": 6}
    execution = Execution.objects.get(run=run)
    assert execution.status == ExecutionStatus.SUCCEEDED and execution.worker_hostname and execution.environment
    assert list(TaskExecution.objects.filter(execution=execution).values_list("task_name", "status")) == [
        ("prepare", "succeeded"),
        ("slow", "succeeded"),
        ("finish", "succeeded"),
    ]
    names = set(Asset.objects.filter(run=run).values_list("name", flat=True))
    assert {"values.json", "final.txt", "prepare", "finish.stdout", "prepared"} <= names
    assert Asset.objects.get(run=run, name="prepare").line_count == 3
    assert Asset.objects.get(run=run, name="final.txt").read_text() == "total=6"
    assert Metric.objects.filter(run=run, key="value").count() == 3
    assert AssetUse.objects.get(run=run).asset.name == "numbers.txt"
    assert [e for e in RunEvent.objects.filter(run=run, subject="run").values_list("to_status", flat=True)] == [
        "queued",
        "running",
        "succeeded",
    ]


def test_failure_records_error_trace_and_structured_error(lifecycle, editor, celery_worker):
    worker = celery_worker(env=_env())
    [run] = run_launch(user=editor, experiment=lifecycle, profile="broken")
    assert wait_until(lambda: _status(run) == RunStatus.FAILED, timeout=60), worker.log_tail()
    run = Run.objects.get(pk=run.pk)
    assert run.error["type"] == "ZeroDivisionError" and run.error["task"] == "slow"
    trace = Asset.objects.get(pk=run.error["traceback_asset"])
    assert trace.kind == "error_trace" and "divided by zero on purpose" in trace.traceback
    assert Asset.objects.filter(run=run, name="values.json").exists()  # written before the failure, kept


def test_cancel_ends_cancelled_within_seconds(lifecycle, editor, celery_worker):
    worker = celery_worker(env=_env())
    [run] = run_launch(user=editor, experiment=lifecycle, params={"sleep": 60})
    assert wait_until(lambda: _status(run) == RunStatus.RUNNING, timeout=60), worker.log_tail()
    assert wait_until(lambda: Asset.objects.filter(run=run, name="slow").exists(), timeout=30)
    started = time.monotonic()
    run_cancel(user=editor, run=Run.objects.get(pk=run.pk))
    assert wait_until(lambda: _status(run) == RunStatus.CANCELLED, timeout=15), worker.log_tail()
    assert time.monotonic() - started < 10
    execution = Execution.objects.get(run=run)
    assert execution.status == ExecutionStatus.CANCELLED
    assert TaskExecution.objects.get(execution=execution, task_name="slow").status == "cancelled"
    assert TaskExecution.objects.get(execution=execution, task_name="finish").status == "skipped"


def test_resume_skips_tasks_that_succeeded(lifecycle, editor, celery_worker):
    worker = celery_worker(env=_env())
    [run] = run_launch(user=editor, experiment=lifecycle, params={"fail": True})
    assert wait_until(lambda: _status(run) == RunStatus.FAILED, timeout=60), worker.log_tail()
    Run.objects.filter(pk=run.pk).update(params={})  # the cause is fixed
    run_resume(user=editor, run=Run.objects.get(pk=run.pk))
    assert wait_until(lambda: _status(run) == RunStatus.SUCCEEDED, timeout=60), worker.log_tail()
    second = Execution.objects.get(run=run, number=2)
    assert second.trigger == "resume"
    tasks = {t.task_name: t for t in TaskExecution.objects.filter(execution=second)}
    assert tasks["prepare"].reused and not tasks["slow"].reused and not tasks["finish"].reused
    assert Asset.objects.filter(run=run, name="values.json").count() == 1  # prepare did not run again


def test_worker_killed_mid_run_is_lost_then_retried(lifecycle, editor, celery_worker):
    first = celery_worker(env=_env())
    [run] = run_launch(user=editor, experiment=lifecycle, params={"sleep": 4})
    assert wait_until(lambda: Asset.objects.filter(run=run, name="slow").exists(), timeout=60), first.log_tail()
    assert wait_until(
        lambda: (Asset.objects.filter(run=run, name="slow").values_list("line_count", flat=True).first() or 0) > 0,
        timeout=10,
    )
    os.killpg(os.getpgid(first.proc.pid), signal.SIGKILL)
    first.proc.wait(timeout=10)
    killed_at = time.monotonic()
    flushed_lines = Asset.objects.get(run=run, name="slow").line_count

    second = celery_worker(env=_env())
    assert _maintain_until(lambda: Execution.objects.filter(run=run, number=1, status="lost").exists(), timeout=60), (
        second.log_tail()
    )
    assert time.monotonic() - killed_at < 60
    assert wait_until(lambda: _status(run) == RunStatus.SUCCEEDED, timeout=90), second.log_tail()
    retry = Execution.objects.get(run=run, number=2)
    assert retry.trigger == "retry" and retry.status == ExecutionStatus.SUCCEEDED
    # what the killed execution had recorded is still there, with no partial file
    assert Asset.objects.filter(run=run, name="values.json", version=1).exists()
    assert Asset.objects.get(run=run, name="slow").line_count >= flushed_lines
    transitions = list(RunEvent.objects.filter(run=run, subject="run").values_list("to_status", flat=True))
    assert transitions == ["queued", "running", "lost", "queued", "running", "succeeded"]


def test_broker_flushed_while_runs_are_queued_they_still_run_once_each(lifecycle, editor, celery_worker):
    runs = run_launch(user=editor, experiment=lifecycle, sweep={"n": [1, 2, 3, 4, 5, 6, 7, 1, 2, 3]})
    assert wait_until(lambda: Execution.objects.filter(run__in=runs, dispatched_at__isnull=False).count() == 10)
    purge_queues("runs", "default")  # the broker loses every queued message (restart without persistence)
    worker = celery_worker(env=_env())
    done = lambda: Run.objects.filter(pk__in=[r.pk for r in runs], status=RunStatus.SUCCEEDED).count() == 10  # noqa: E731
    assert _maintain_until(done, timeout=120), worker.log_tail()
    for run in runs:
        assert Execution.objects.filter(run=run).count() == 1
        assert RunEvent.objects.filter(run=run, subject="run", to_status="running").count() == 1
        assert TaskExecution.objects.filter(execution__run=run).count() == 3
