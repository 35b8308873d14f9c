"""The one transition function: legal moves write an event, illegal ones write nothing."""

import pytest

from molexp_site.errors import IllegalTransition
from runs_app.choices import EXECUTION_TRANSITIONS, RUN_TRANSITIONS, ExecutionStatus, RunStatus
from runs_app.models import Execution, Run, RunEvent
from runs_app.services import status_transition
from tests import factories as f

ALL_RUN = list(RunStatus.values)
ALL_EXEC = list(ExecutionStatus.values)


@pytest.mark.django_db
@pytest.mark.parametrize("start", ALL_RUN)
@pytest.mark.parametrize("target", ALL_RUN)
def test_run_transition_matrix(start, target):
    run = f.RunFactory(status=start)
    legal = target in RUN_TRANSITIONS[start]
    if legal:
        status_transition(obj=run, to_status=target, message="why")
        run.refresh_from_db()
        assert run.status == target
        event = RunEvent.objects.get(run=run)
        assert (event.from_status, event.to_status, event.message, event.subject) == (start, target, "why", "run")
    else:
        with pytest.raises(IllegalTransition, match=f"{start} → {target}"):
            status_transition(obj=run, to_status=target)
        run.refresh_from_db()
        assert run.status == start
        assert not RunEvent.objects.filter(run=run).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("start", ALL_EXEC)
@pytest.mark.parametrize("target", ALL_EXEC)
def test_execution_transition_matrix(start, target):
    execution = f.ExecutionFactory(status=start)
    legal = target in EXECUTION_TRANSITIONS[start]
    if legal:
        status_transition(obj=execution, to_status=target)
        execution.refresh_from_db()
        assert execution.status == target
        event = RunEvent.objects.get(execution=execution)
        assert event.subject == "execution" and event.run_id == execution.run_id
    else:
        with pytest.raises(IllegalTransition):
            status_transition(obj=execution, to_status=target)
        execution.refresh_from_db()
        assert execution.status == start
        assert not RunEvent.objects.exists()


@pytest.mark.django_db
def test_spec_lifecycle_is_legal():
    run = f.RunFactory(status=RunStatus.PENDING)
    for status in (
        "queued",
        "running",
        "cancelling",
        "cancelled",
        "queued",
        "running",
        "lost",
        "queued",
        "running",
        "succeeded",
    ):
        status_transition(obj=run, to_status=status)
    assert list(RunEvent.objects.filter(run=run).values_list("to_status", flat=True))[-1] == "succeeded"
    assert RunEvent.objects.filter(run=run).count() == 10


@pytest.mark.django_db
def test_stale_status_loses_the_race_and_writes_nothing():
    run = f.RunFactory(status=RunStatus.RUNNING)
    stale_copy = Run.objects.get(pk=run.pk)
    status_transition(obj=run, to_status=RunStatus.SUCCEEDED)
    with pytest.raises(IllegalTransition, match="no longer running"):
        status_transition(obj=stale_copy, to_status=RunStatus.FAILED)
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
    assert RunEvent.objects.filter(run=run).count() == 1


@pytest.mark.django_db
def test_transition_sets_times():
    execution = f.ExecutionFactory(status=ExecutionStatus.QUEUED)
    status_transition(obj=execution, to_status=ExecutionStatus.RUNNING, worker_hostname="node1")
    execution = Execution.objects.get(pk=execution.pk)
    assert execution.started_at is not None and execution.worker_hostname == "node1"
    status_transition(obj=execution, to_status=ExecutionStatus.SUCCEEDED)
    assert Execution.objects.get(pk=execution.pk).finished_at is not None
