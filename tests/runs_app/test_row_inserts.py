"""``rows_insert``: the few rows of a one-run launch and of a transition written with a kept statement,
the same rows and the same objects as ``bulk_create``; anything else goes through ``bulk_create``."""

from __future__ import annotations

import pytest
from django.db import connection, models
from django.db.models import Value
from django.db.models.sql import InsertQuery
from django.test.utils import CaptureQueriesContext

from runs_app.choices import ExecutionStatus, Trigger
from runs_app.models import Execution, Run, RunEvent
from runs_app.services import row_inserts, run_launch
from runs_app.services.row_inserts import SMALL_INSERT_ROWS, rows_insert

#: Set by the database or by the clock at insert time: compared for presence, not value.
VOLATILE = {"id", "uuid", "created_at", "updated_at", "queued_at", "number", "fingerprint", "sweep_id"}


def _row(model, pk) -> dict:
    return {k: v for k, v in model._base_manager.filter(pk=pk).values().get().items() if k not in VOLATILE}


@pytest.fixture
def run(chem_experiment, editor, monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)
    return run_launch(user=editor, experiment=chem_experiment, params={"x": 1})[0]


def _run_like(run: Run, number: int) -> Run:
    fields = {f.attname: getattr(run, f.attname) for f in Run._meta.concrete_fields if f.attname != "id"}
    return Run(**{**fields, "number": number})


@pytest.mark.django_db
def test_the_rows_and_objects_are_bulk_creates(run):
    mine, theirs = _run_like(run, 1001), _run_like(run, 1002)
    with CaptureQueriesContext(connection) as queries:
        assert rows_insert([mine]) == [mine]
    assert len(queries) == 1 and queries[0]["sql"].startswith("INSERT") and "RETURNING" in queries[0]["sql"]
    Run.objects.bulk_create([theirs])
    assert mine.pk and theirs.pk and mine.pk != theirs.pk
    assert (mine._state.adding, mine._state.db) == (theirs._state.adding, theirs._state.db) == (False, "default")
    assert _row(Run, mine.pk) == _row(Run, theirs.pk)
    ex_mine = Execution(run_id=mine.pk, number=1, trigger=Trigger.LAUNCH, status=ExecutionStatus.QUEUED)
    ex_theirs = Execution(run_id=theirs.pk, number=1, trigger=Trigger.LAUNCH, status=ExecutionStatus.QUEUED)
    rows_insert([ex_mine])
    Execution.objects.bulk_create([ex_theirs])
    assert ex_mine.pk and Execution.objects.get(pk=ex_mine.pk).uuid == ex_mine.uuid  # the default made in Python
    assert {**_row(Execution, ex_mine.pk), "run_id": 0} == {**_row(Execution, ex_theirs.pk), "run_id": 0}
    events = [RunEvent(run_id=mine.pk, execution_id=ex_mine.pk, to_status="queued", message=f"m{k}") for k in range(3)]
    with CaptureQueriesContext(connection) as queries:
        rows_insert(events)  # several rows: one statement, ids in order
    assert len([q for q in queries if q["sql"].startswith("INSERT")]) == 1
    stored = list(
        RunEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("pk").values_list("message", "created_at")
    )
    assert [m for m, _ in stored] == ["m0", "m1", "m2"] and all(created for _, created in stored)
    assert [e.pk for e in events] == sorted(e.pk for e in events)


@pytest.mark.django_db
def test_the_kept_statement_is_the_one_django_compiles_for_one_row(run):
    rows_insert([_run_like(run, 1003)])
    obj = _run_like(run, 1004)
    fields = [f for f in Run._meta.concrete_fields if not f.generated and not isinstance(f, models.AutoField)]
    query = InsertQuery(Run)
    query.insert_values(fields, [obj], raw=False)
    compiler = query.get_compiler("default")
    compiler.returning_fields = Run._meta.db_returning_fields
    [(django_sql, _params)] = compiler.as_sql()
    assert row_inserts._COMPILED_INSERTS[(Run, "default", 1)] == django_sql


@pytest.mark.django_db
def test_more_rows_or_an_expression_go_through_bulk_create(run, monkeypatch):
    calls = []
    original = models.QuerySet.bulk_create

    def spy(self, objs, *args, **kwargs):
        calls.append(len(objs))
        return original(self, objs, *args, **kwargs)

    monkeypatch.setattr(models.QuerySet, "bulk_create", spy)
    many = [RunEvent(run_id=run.pk, to_status="queued", message=str(k)) for k in range(SMALL_INSERT_ROWS + 1)]
    rows_insert(many)
    assert calls == [SMALL_INSERT_ROWS + 1] and all(e.pk for e in many)
    big = _run_like(run, 1005)
    big.workflow_snapshot = Value({"k": "v"}, output_field=models.JSONField())
    rows_insert([big])
    assert calls[-1] == 1 and Run.objects.get(pk=big.pk).workflow_snapshot == {"k": "v"}
    rows_insert([RunEvent(run_id=run.pk, to_status="queued")])
    assert len(calls) == 2  # one small row without an expression: the kept statement
