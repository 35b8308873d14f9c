"""RunContext writes a flush of metric points in one database round trip (SPEC §11).

On PostgreSQL one ``COPY … FROM STDIN`` statement in autocommit, with no
BEGIN/COMMIT or any other statement around it; on SQLite (in process, no network)
Django's bulk insert.
Every point arrives intact either way.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs_app.models import Metric
from runs_app.workflow.context import RunContext

from .. import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_flush_of_ten_thousand_points_is_one_statement_and_keeps_every_point(tmp_path, monkeypatch):
    copies = []
    if connection.vendor == "postgresql":  # COPY bypasses Django's query log: record it at psycopg's cursor
        import psycopg

        real_copy = psycopg.ClientCursor.copy

        def copy(self, statement, *args, **kwargs):
            copies.append(str(statement))
            return real_copy(self, statement, *args, **kwargs)

        monkeypatch.setattr(psycopg.ClientCursor, "copy", copy)
    run = f.RunFactory()
    execution = f.ExecutionFactory(run=run)
    ctx = RunContext(run=run, execution=execution, workdir=tmp_path)
    for i in range(10_000):
        ctx.log_metric("loss", 1.0 / (i + 1), step=i)
    ctx.log_metric("acc", 0.5)  # no step
    with CaptureQueriesContext(connection) as queries:
        ctx.flush()
    if connection.vendor == "postgresql":
        assert queries.captured_queries == []  # no BEGIN, COMMIT or INSERT beside it
        assert [statement.split()[0] for statement in copies] == ["COPY"]
    assert Metric.objects.filter(run=run).count() == 10_001
    point = Metric.objects.get(run=run, key="loss", step=9_999)
    assert (point.value, point.execution_id) == (1.0 / 10_000, execution.pk) and point.created_at is not None
    assert Metric.objects.get(run=run, key="acc").step is None


def test_a_failed_flush_keeps_the_batch_for_the_next_one(tmp_path, monkeypatch):
    run = f.RunFactory()
    ctx = RunContext(run=run, execution=f.ExecutionFactory(run=run), workdir=tmp_path)
    ctx.log_metric("loss", 1.0, step=0)
    import runs_app.workflow.context as context_module

    real = context_module._insert_metric_points
    monkeypatch.setattr(
        context_module, "_insert_metric_points", lambda points: (_ for _ in ()).throw(OSError("db down"))
    )
    with pytest.raises(OSError):
        ctx.flush()
    monkeypatch.setattr(context_module, "_insert_metric_points", real)
    ctx.log_metric("loss", 2.0, step=1)
    ctx.flush()
    assert list(Metric.objects.filter(run=run).order_by("step").values_list("value", flat=True)) == [1.0, 2.0]
