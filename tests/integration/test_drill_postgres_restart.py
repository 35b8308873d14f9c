"""Drill: the database "restarts" under a worker in the middle of a run.

The worker reaches PostgreSQL through a TCP proxy started by the test; cutting
the proxy (every connection closed, new ones refused) looks to the worker
exactly like a server restart, without touching the shared server. The run
must end succeeded or failed cleanly (never stuck running: a worker that lost
the database for good is reaped as lost and retried), and nothing recorded
before the cut may be lost.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection

from assets_app.models import Asset
from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.models import Execution, Metric, Run
from runs_app.services import run_launch

from .conftest import database_url_of_test_db, wait_until
from .drill_support import TcpProxy, drill_experiment, maintain_until, require_postgres_and_redis, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CUT_SECONDS = 5


@pytest.fixture
def drill(project, editor, settings, tmp_path):
    require_postgres_and_redis()
    return drill_experiment(project=project, editor=editor, settings=settings, tmp_path=tmp_path)


@pytest.fixture
def db_proxy():
    cfg = connection.settings_dict
    proxy = TcpProxy((cfg["HOST"] or "127.0.0.1", int(cfg["PORT"] or 5432)))
    yield proxy
    proxy.close()


def _through(proxy: TcpProxy) -> str:
    cfg = connection.settings_dict
    direct = database_url_of_test_db()
    host = f"{cfg['HOST'] or '127.0.0.1'}:{cfg['PORT']}" if cfg["PORT"] else cfg["HOST"] or "127.0.0.1"
    assert f"@{host}/" in direct, direct
    return direct.replace(f"@{host}/", f"@127.0.0.1:{proxy.port}/")


def test_database_restart_mid_run_ends_cleanly_and_keeps_records(drill, editor, db_proxy, celery_worker):
    began = time.monotonic()
    worker = celery_worker(env=worker_env(DATABASE_URL=_through(db_proxy), MOLEXP_LOST_AFTER_SECONDS="6"))
    [run] = run_launch(user=editor, experiment=drill, params={"i": 7, "sleep": 12})

    def log_lines() -> int:
        return Asset.objects.filter(run=run, name="drill").values_list("line_count", flat=True).first() or 0

    assert wait_until(lambda: log_lines() > 20, timeout=60), worker.log_tail()
    assert db_proxy.accepted > 0
    before = {
        "lines": log_lines(),
        "metrics": Metric.objects.filter(run=run).count(),
        "artifacts": set(Asset.objects.filter(run=run, kind="artifact").values_list("pk", "sha256")),
    }
    db_proxy.cut()
    cut_at = time.monotonic()
    time.sleep(CUT_SECONDS)
    db_proxy.restore()

    terminal = (RunStatus.SUCCEEDED, RunStatus.FAILED)
    assert maintain_until(lambda: Run.objects.get(pk=run.pk).status in terminal, timeout=60), (
        f"run is {Run.objects.get(pk=run.pk).status}\n{worker.log_tail(80)}"
    )
    ended = time.monotonic() - cut_at
    run.refresh_from_db()
    executions = list(Execution.objects.filter(run=run).order_by("number"))
    assert all(e.status in ExecutionStatus.values and e.is_terminal for e in executions), [
        (e.number, e.status) for e in executions
    ]
    # Nothing recorded before the cut is lost.
    assert log_lines() >= before["lines"]
    assert Metric.objects.filter(run=run).count() >= before["metrics"]
    assert before["artifacts"] <= set(Asset.objects.filter(run=run, kind="artifact").values_list("pk", "sha256"))
    print(
        f"\nDRILL postgres-restart: cut {CUT_SECONDS} s at {before['lines']} log lines; run {run.status} "
        f"{ended:.1f} s after the cut with executions {[(e.number, e.trigger, e.status) for e in executions]}; "
        f"proxy refused {db_proxy.refused} connections during the cut; total {time.monotonic() - began:.1f} s"
    )
    # The task itself only computed during the cut: the worker reconnects and the same
    # execution finishes (before the fix it was left running and re-run whole by the reaper).
    assert run.status == RunStatus.SUCCEEDED, (run.error, worker.log_tail(80))
    assert [(e.number, e.status) for e in executions] == [(1, ExecutionStatus.SUCCEEDED)]
    # Every metric point the task logged was written, including those whose flush failed during the cut
    # (the log file is appended to before its row, so its last "working N" line is the last step).
    last_step = int(Asset.objects.get(run=run, name="drill").read_text().rsplit("working ", 1)[1].split()[0])
    steps = sorted(Metric.objects.filter(run=run, key="progress").values_list("value", flat=True))
    assert steps == [float(n) for n in range(1, last_step + 1)]
    # ... and every line in the log's file is counted on its row (a count that failed during
    # the cut is carried to the next flush, never dropped).
    log = Asset.objects.get(run=run, name="drill")
    assert log.line_count == len(log.read_text().splitlines())
    print(f"DRILL postgres-restart: {last_step} metric points, all recorded; log line_count {log_lines()}")
