"""The worker's per-run writes in fewer round trips, recording the same rows: a task row's write is one
statement (on PostgreSQL the relaxed-commit setting travels in the same message), and a transition's
events are one INSERT whose SQL is not compiled again for each run."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs_app.choices import ExecutionStatus, RunStatus, TaskStatus
from runs_app.models import Execution, RunEvent, TaskExecution
from runs_app.services import durability, run_launch
from runs_app.services.core import status_transitions
from runs_app.services.execution import _TaskRecorder


def _statements(queries) -> list[str]:
    """What was sent besides transaction control (SQLite's BEGIN IMMEDIATE and COMMIT are captured too)."""
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")
    return [q["sql"] for q in queries if not q["sql"].upper().startswith(control)]


def _launched(chem_experiment, editor, monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)
    [run] = run_launch(user=editor, experiment=chem_experiment)
    return run, Execution.objects.get(run=run)


@pytest.mark.django_db(transaction=True)
def test_each_task_row_write_is_one_statement_and_a_later_one_changes_only_its_fields(
    chem_experiment, editor, monkeypatch
):
    _run, execution = _launched(chem_experiment, editor, monkeypatch)
    recorder = _TaskRecorder(execution=execution, ctx=None)
    with CaptureQueriesContext(connection) as queries:
        recorder.task_started("load")
    assert len(_statements(queries)) == 1
    row = TaskExecution.objects.get(execution=execution, task_name="load")
    # Every column as bulk_create writes it: the model's defaults for what the call does not set.
    assert (row.status, row.reused, row.output_ref, row.error, row.finished_at) == (
        TaskStatus.RUNNING, False, None, None, None
    )  # fmt: skip
    started = row.started_at
    assert started is not None
    with CaptureQueriesContext(connection) as queries:
        with pytest.raises(AttributeError):  # ctx=None: the recorder reaches the flush after its reconnect check
            recorder.task_succeeded("load", {"n": 1})
    assert len(_statements(queries)) == 0
    with CaptureQueriesContext(connection) as queries:
        recorder._save("load", status=TaskStatus.SUCCEEDED, finished_at=timezone.now(), output_ref={"json": {"n": 1}})
    assert len(_statements(queries)) == 1
    row.refresh_from_db()
    assert row.status == TaskStatus.SUCCEEDED and row.output_ref == {"json": {"n": 1}}
    assert row.started_at == started and row.finished_at is not None  # started_at left as written
    assert TaskExecution.objects.filter(execution=execution).count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is a PostgreSQL setting")
@pytest.mark.django_db(transaction=True)
def test_a_task_row_upsert_commits_without_the_flush_wait_and_the_session_keeps_synchronous_commits(
    chem_experiment, editor, monkeypatch
):
    _run, execution = _launched(chem_experiment, editor, monkeypatch)
    with CaptureQueriesContext(connection) as queries:
        durability.upsert_without_fsync_wait(
            TaskExecution(execution=execution, task_name="t", status=TaskStatus.RUNNING),
            unique_fields=["execution", "task_name"], update_fields=["status"],
        )  # fmt: skip
    assert len(queries) == 1
    assert queries[0]["sql"].startswith("SELECT set_config('synchronous_commit', 'off', true); INSERT")
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
        # Both statements of one message share its implicit transaction, so the setting holds for its commit:
        cursor.execute(
            "SELECT set_config('synchronous_commit', 'off', true), txid_current(); "
            "SELECT current_setting('synchronous_commit'), txid_current()"
        )
        assert cursor.fetchone()[0] == "off"
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert TaskExecution.objects.get(execution=execution, task_name="t").status == TaskStatus.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_task_row_write_inside_a_transaction_rolls_back_with_it(chem_experiment, editor, monkeypatch):
    _run, execution = _launched(chem_experiment, editor, monkeypatch)
    with transaction.atomic():
        _TaskRecorder(execution=execution, ctx=None).task_started("load")
        transaction.set_rollback(True)
    assert not TaskExecution.objects.filter(execution=execution).exists()


@pytest.mark.django_db
def test_a_transitions_events_are_one_insert_with_the_rows_bulk_create_wrote(chem_experiment, editor, monkeypatch):
    run, execution = _launched(chem_experiment, editor, monkeypatch)
    before = timezone.now()
    for _ in range(2):  # the second time with the statement kept from the first
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            status_transitions((execution, ExecutionStatus.RUNNING, "claimed", {}),
                               (run, RunStatus.RUNNING, "started", {}))  # fmt: skip
        statements = _statements(queries)
        assert len(statements) == 3 and [sql[:6] for sql in statements] == ["UPDATE", "UPDATE", "INSERT"]
        if execution.status == ExecutionStatus.RUNNING and run.status == RunStatus.RUNNING:
            Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.QUEUED)
            type(run).objects.filter(pk=run.pk).update(status=RunStatus.QUEUED)
            execution.status, run.status = ExecutionStatus.QUEUED, RunStatus.QUEUED
    events = list(
        RunEvent.objects.filter(run=run, created_at__gte=before).order_by("id")
        .values_list("run_id", "execution_id", "subject", "from_status", "to_status", "message")
    )  # fmt: skip
    claim = [(run.pk, execution.pk, "execution", "queued", "running", "claimed"),
             (run.pk, None, "run", "queued", "running", "started")]  # fmt: skip
    assert events == claim + claim


@pytest.mark.django_db
def test_the_finish_reads_the_two_statuses_the_orm_would(chem_experiment, editor, monkeypatch):
    from runs_app.services.execution import _statuses

    run, execution = _launched(chem_experiment, editor, monkeypatch)
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.CANCELLING)
    expected = Execution.objects.filter(pk=execution.pk).values_list("status", "run__status").get()
    assert _statuses(execution_id=execution.pk) == expected == (ExecutionStatus.CANCELLING, RunStatus.QUEUED)
    with pytest.raises(Execution.DoesNotExist):
        _statuses(execution_id=execution.pk + 10_000)


@pytest.mark.django_db(transaction=True)
def test_marking_dispatched_executions_is_one_relaxed_update_of_exactly_those(chem_experiment, editor, monkeypatch):
    from runs_app.services import dispatch

    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)
    runs = run_launch(user=editor, experiment=chem_experiment, sweep={"x": [1, 2, 3]})
    ids = list(Execution.objects.filter(run__in=runs).order_by("pk").values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        dispatch._dispatched_mark(ids[:2])
    statements = _statements(queries)
    assert len(statements) == 1 and statements[0].startswith("UPDATE")
    if connection.vendor == "postgresql":
        assert len(queries) == 1 and "set_config('synchronous_commit', 'off', true)" in statements[0]
    marked = dict(Execution.objects.filter(pk__in=ids).values_list("pk", "dispatched_at"))
    assert marked[ids[0]] and marked[ids[1]] and marked[ids[2]] is None
