"""The reaper: silent executions become lost, then are retried or failed by policy."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs_app.choices import ExecutionStatus, RunStatus, Trigger
from runs_app.models import Execution, Run, RunEvent
from runs_app.services import execution_reap_stale
from tests import factories as f


def _running(heartbeat_age_s: int):
    run = f.RunFactory(status=RunStatus.RUNNING)
    execution = f.ExecutionFactory(
        run=run,
        number=1,
        status=ExecutionStatus.RUNNING,
        started_at=timezone.now() - timedelta(seconds=heartbeat_age_s + 5),
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age_s),
        worker_hostname="node7",
    )
    return run, execution


@pytest.mark.django_db
def test_fresh_heartbeat_is_left_alone(settings):
    run, execution = _running(heartbeat_age_s=5)
    assert execution_reap_stale() == {"lost": 0, "retried": 0, "failed": 0}
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.RUNNING


@pytest.mark.django_db
def test_stale_run_is_retried_once_then_failed(settings, django_capture_on_commit_callbacks):
    settings.MOLEXP_LOST_RETRIES = 1
    run, execution = _running(heartbeat_age_s=600)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        counts = execution_reap_stale()
    assert counts == {"lost": 1, "retried": 1, "failed": 0}
    assert len(callbacks) == 1  # the retry is dispatched, after commit
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.LOST
    retry = Execution.objects.get(run=run, number=2)
    assert retry.trigger == Trigger.RETRY and retry.status == ExecutionStatus.QUEUED
    assert Run.objects.get(pk=run.pk).status == RunStatus.QUEUED
    run_events = list(RunEvent.objects.filter(run=run, subject="run").values_list("from_status", "to_status"))
    assert run_events == [("running", "lost"), ("lost", "queued")]

    # The retry starts, then goes silent too: no retries left, the run fails.
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    Execution.objects.filter(pk=retry.pk).update(
        status=ExecutionStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(seconds=600)
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        counts = execution_reap_stale()
    assert counts == {"lost": 1, "retried": 0, "failed": 1}
    assert callbacks == []
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.FAILED
    assert run.error["type"] == "WorkerLost" and run.error["execution"] == 2


@pytest.mark.django_db
def test_no_retries_policy_fails_at_once(settings):
    settings.MOLEXP_LOST_RETRIES = 0
    run, _ = _running(heartbeat_age_s=600)
    assert execution_reap_stale() == {"lost": 1, "retried": 0, "failed": 1}
    assert Run.objects.get(pk=run.pk).status == RunStatus.FAILED


@pytest.mark.django_db
def test_reaping_twice_does_nothing_more(settings):
    settings.MOLEXP_LOST_RETRIES = 0
    _running(heartbeat_age_s=600)
    execution_reap_stale()
    events = RunEvent.objects.count()
    assert execution_reap_stale() == {"lost": 0, "retried": 0, "failed": 0}
    assert RunEvent.objects.count() == events


@pytest.mark.django_db
def test_never_beaten_execution_uses_its_start_time(settings):
    settings.MOLEXP_LOST_RETRIES = 0
    run = f.RunFactory(status=RunStatus.RUNNING)
    f.ExecutionFactory(
        run=run, status=ExecutionStatus.RUNNING, started_at=timezone.now() - timedelta(minutes=10), heartbeat_at=None
    )
    assert execution_reap_stale()["lost"] == 1
