"""Cheaper per-run CPU without recording less: a status transition's UPDATE is compiled once per shape and
re-used with each call's own values; a sweep's shared snapshot is stored whole whether it goes into the bulk
insert as a plain value (small) or as an expression (big); a dispatch's messages are Celery's own."""

from __future__ import annotations

import pytest
from django.db.models import Value

from molexp_site.errors import IllegalTransition
from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.models import Execution, Run
from runs_app.services import core, launch, run_launch
from runs_app.services.core import status_transitions


def _no_broker(monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


@pytest.mark.django_db
def test_a_re_used_transition_statement_writes_each_calls_own_values_json_and_null(
    chem_experiment, editor, monkeypatch
):
    _no_broker(monkeypatch)
    runs = run_launch(user=editor, experiment=chem_experiment, sweep={"i": [1, 2, 3]})
    executions = [Execution.objects.get(run=run) for run in runs]
    for k, execution in enumerate(executions):  # one shape three times: the second and third re-use the SQL
        status_transitions((execution, ExecutionStatus.RUNNING, "claimed", {"worker_pid": 100 + k,
                                                                            "environment": {"k": k}}))  # fmt: skip
    shape = [key for key in core._COMPILED_UPDATES if key[0] is Execution and "environment" in key[2]]
    assert shape, "the claim's statement was not kept"
    rows = {e.pk: (e.worker_pid, e.environment) for e in Execution.objects.filter(pk__in=[x.pk for x in executions])}
    assert [rows[e.pk] for e in executions] == [(100, {"k": 0}), (101, {"k": 1}), (102, {"k": 2})]
    # A JSON value and SQL NULL in the same column are two shapes, each written as given.
    status_transitions((executions[0], ExecutionStatus.FAILED, "boom", {"error": {"type": "X"}}))
    status_transitions((executions[1], ExecutionStatus.FAILED, "boom", {"error": None}))
    status_transitions((executions[2], ExecutionStatus.FAILED, "boom", {"error": {"type": "Y"}}))
    errors = dict(Execution.objects.filter(pk__in=[e.pk for e in executions]).values_list("pk", "error"))
    assert [errors[e.pk] for e in executions] == [{"type": "X"}, None, {"type": "Y"}]
    assert Execution.objects.filter(pk=executions[1].pk, error__isnull=True).exists()  # SQL NULL, not JSON null


@pytest.mark.django_db
def test_a_re_used_statement_still_refuses_a_lost_race_and_expressions_go_through_the_orm(
    chem_experiment, editor, monkeypatch
):
    _no_broker(monkeypatch)
    first, second = run_launch(user=editor, experiment=chem_experiment, sweep={"i": [1, 2]})
    status_transitions((first, RunStatus.RUNNING, "started", {}))
    stale = Run.objects.get(pk=second.pk)
    Run.objects.filter(pk=second.pk).update(status=RunStatus.CANCELLED)
    with pytest.raises(IllegalTransition, match="no longer queued"):
        status_transitions((stale, RunStatus.RUNNING, "started", {}))  # the kept statement, 0 rows
    assert Run.objects.get(pk=second.pk).status == RunStatus.CANCELLED
    execution = Execution.objects.get(run=first)
    status_transitions((execution, ExecutionStatus.RUNNING, "claimed", {"worker_pid": Value(7)}))
    assert Execution.objects.get(pk=execution.pk).worker_pid == 7


@pytest.mark.django_db
@pytest.mark.parametrize("inline_bytes", [launch._SNAPSHOT_INLINE_BYTES, 0], ids=["plain-value", "expression"])
def test_a_sweeps_shared_snapshot_is_stored_whole_either_way(chem_experiment, editor, monkeypatch, inline_bytes):
    _no_broker(monkeypatch)
    monkeypatch.setattr(launch, "_SNAPSHOT_INLINE_BYTES", inline_bytes)
    runs = run_launch(user=editor, experiment=chem_experiment, sweep={"i": [1, 2, 3]})
    stored = list(Run.objects.filter(pk__in=[r.pk for r in runs]).order_by("number"))
    assert len(stored) == 3 and stored[0].workflow_snapshot["files"]
    assert all(r.workflow_snapshot == runs[0].workflow_snapshot for r in stored)
    assert [r.params for r in stored] == [{"i": 1}, {"i": 2}, {"i": 3}]


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "one-by-one"])
def test_each_dispatched_message_is_celerys_own_with_the_queue_declared_once(monkeypatch, pipelined):
    import contextlib

    from molexp_site.celery import app
    from runs_app.services import dispatch

    class _Pipe:
        active = pipelined

        def flush(self):
            pass

    monkeypatch.setattr(dispatch, "pipelined_publishing", lambda producer: contextlib.nullcontext(_Pipe()))
    calls = []
    monkeypatch.setattr(app, "send_task", lambda name, **options: calls.append((name, options)))
    marked = []
    monkeypatch.setattr(dispatch, "_dispatched_mark", marked.append)  # no database here: the messages are the subject
    dispatch._send([(5, "u-5"), (6, "u-6")])
    assert marked == [[5, 6]]
    assert [(name, o["kwargs"], o["task_id"], o["queue"]) for name, o in calls] == [
        ("runs.execution_run", {"execution_id": 5}, "u-5", "runs"),
        ("runs.execution_run", {"execution_id": 6}, "u-6", "runs"),
    ]
    # The reprs are what Celery computes itself (saferepr of the arguments); the first message declares.
    from celery.utils.saferepr import saferepr

    assert all(o["kwargsrepr"] == saferepr(o["kwargs"]) and o["argsrepr"] == saferepr(()) for _, o in calls)
    assert calls[0][1]["declare"] is None and calls[1][1]["declare"] == []
    # kombu's retry policy for the declaring message and whenever messages go out one by one; a pipelined
    # message's publish only queues its LPUSH (nothing to retry until the flush).
    assert calls[0][1]["retry"] is None and calls[1][1]["retry"] is (False if pipelined else None)
