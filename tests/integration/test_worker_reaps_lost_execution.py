"""A real worker runs ``runs.maintenance`` and reaps an execution whose heartbeat went silent.

Runs against whatever the suite is configured with: embedded SQLite with the
``filesystem://`` broker, or PostgreSQL with Redis (``make test`` runs both).
Never eager mode: the message goes through the broker to a separate process.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from molexp_site.celery import app
from runs_app.choices import ExecutionStatus, RunStatus, Trigger
from runs_app.models import Execution, Run, RunEvent
from tests import factories as f

from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _running_run_with_silent_worker() -> tuple[Run, Execution]:
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    run = f.RunFactory(status=RunStatus.RUNNING, started_at=ten_minutes_ago - timedelta(minutes=1))
    execution = f.ExecutionFactory(
        run=run,
        number=1,
        status=ExecutionStatus.RUNNING,
        worker_hostname="vanished-worker",
        started_at=ten_minutes_ago - timedelta(minutes=1),
        heartbeat_at=ten_minutes_ago,
    )
    return run, execution


def _run_transitions(run: Run) -> list[tuple[str, str]]:
    return list(RunEvent.objects.filter(run=run, subject="run").order_by("id").values_list("from_status", "to_status"))


def test_worker_marks_silent_execution_lost_and_fails_run_without_retries(celery_worker):
    worker = celery_worker(env={"MOLEXP_LOST_RETRIES": "0"})
    run, execution = _running_run_with_silent_worker()

    app.send_task("runs.maintenance")

    def reaped() -> bool:
        run.refresh_from_db()
        execution.refresh_from_db()
        return execution.status == ExecutionStatus.LOST and run.status == RunStatus.FAILED

    assert wait_until(reaped, timeout=30), (
        f"run {run.status}, execution {execution.status} after 30 s; worker log:\n{worker.log_tail()}"
    )
    assert run.error["type"] == "WorkerLost"
    assert run.error["execution"] == 1
    assert "vanished-worker" in run.error["message"]
    assert run.finished_at is not None
    assert _run_transitions(run) == [("running", "lost"), ("lost", "failed")]
    assert not run.executions.filter(trigger=Trigger.RETRY).exists()


def test_worker_queues_retry_execution_for_lost_run(celery_worker):
    # The worker consumes only `default` (where maintenance goes), so the retry's
    # message stays on the `runs` queue and the test can check it was really sent.
    worker = celery_worker(env={"MOLEXP_LOST_RETRIES": "1"}, queues="default")
    run, execution = _running_run_with_silent_worker()

    app.send_task("runs.maintenance")

    def retried() -> bool:
        run.refresh_from_db()
        return run.executions.filter(trigger=Trigger.RETRY, dispatched_at__isnull=False).exists()

    assert wait_until(retried, timeout=30), f"no dispatched retry after 30 s; worker log:\n{worker.log_tail()}"
    execution.refresh_from_db()
    retry = run.executions.get(trigger=Trigger.RETRY)
    assert execution.status == ExecutionStatus.LOST
    assert (retry.number, retry.status) == (2, ExecutionStatus.QUEUED)
    assert run.status == RunStatus.QUEUED
    assert _run_transitions(run) == [("running", "lost"), ("lost", "queued")]

    with app.connection_for_read() as conn:
        message = None

        def delivered() -> bool:
            nonlocal message
            message = conn.default_channel.basic_get("runs", no_ack=True)
            return message is not None

        assert wait_until(delivered, timeout=10), "the retry execution was not sent to the runs queue"
    assert message.headers["task"] == "runs.execution_run"
    assert message.headers["id"] == str(retry.uuid)
    _args, kwargs, _embed = message.decode()
    assert kwargs == {"execution_id": retry.pk}
