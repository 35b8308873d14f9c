"""Drill (SPEC §11): two workers on one queue execute each execution exactly once.

Runs on both configurations: embedded SQLite + ``filesystem://`` (the
fixture's private broker folders), and PostgreSQL + a private Redis. Every
execution is also sent a second time, as a reconciler re-send racing the
original would, so the two workers really compete for the same executions:
only the conditional UPDATE of the claim decides who runs it.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack

import pytest

from molexp_site.celery import app
from runs_app.choices import RunStatus
from runs_app.models import Execution, Run
from runs_app.services import run_launch

from .conftest import wait_until
from .drill_support import (
    PrivateRedis,
    broker_pointed_at,
    drill_experiment,
    executions_run_once,
    no_problems,
    on_postgres_and_redis,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RUNS = int(os.environ.get("MOLEXP_DRILL_RUNS", "200"))


@pytest.fixture
def drill(project, editor, settings, tmp_path):
    return drill_experiment(project=project, editor=editor, settings=settings, tmp_path=tmp_path)


@pytest.fixture
def broker(settings, tmp_path):
    """A private Redis on PostgreSQL + Redis; the suite's own filesystem broker folders on SQLite."""
    with ExitStack() as stack:
        if on_postgres_and_redis():
            redis = PrivateRedis(tmp_path / "redis")
            redis.start()
            stack.callback(redis.kill)
            stack.enter_context(broker_pointed_at(redis.url(), settings))
        yield


def test_two_workers_run_each_execution_exactly_once(drill, editor, broker, celery_worker):
    began = time.monotonic()
    env = worker_env(MOLEXP_LOST_AFTER_SECONDS="30")
    workers = [celery_worker(env=env, queues="runs"), celery_worker(env=env, queues="runs")]
    runs = run_launch(user=editor, experiment=drill, sweep={"i": list(range(RUNS))})
    ids = [r.pk for r in runs]
    with app.producer_or_acquire() as producer:
        for pk, uuid in Execution.objects.filter(run__in=ids).values_list("pk", "uuid"):
            app.send_task("runs.execution_run", kwargs={"execution_id": pk}, task_id=str(uuid), queue="runs",
                          producer=producer)  # fmt: skip

    done = lambda: not Run.objects.filter(pk__in=ids).exclude(status=RunStatus.SUCCEEDED).exists()  # noqa: E731
    assert wait_until(done, timeout=180, interval=0.5), "\n".join(w.log_tail(20) for w in workers)
    elapsed = time.monotonic() - began

    problems = executions_run_once(ids)
    assert no_problems(problems), problems
    by_worker = {w.proc.pid: Execution.objects.filter(run__in=ids, worker_pid=w.proc.pid).count() for w in workers}
    assert sum(by_worker.values()) == RUNS, by_worker
    assert all(by_worker.values()), f"one worker ran nothing: {by_worker}"
    # Every second delivery found its execution already claimed and did nothing.
    assert wait_until(lambda: sum(w.log().count("succeeded in") for w in workers) >= 2 * RUNS, timeout=30)
    claimed = sum(w.log().count("'succeeded'") for w in workers)
    declined = sum(w.log().count("'not-queued'") + w.log().count("'not-claimed'") for w in workers)
    assert (claimed, declined) == (RUNS, RUNS)
    print(
        f"\nDRILL two-workers: {RUNS} runs + {RUNS} duplicate messages on {app.conf.broker_url.split(':')[0]}; "
        f"executions per worker {sorted(by_worker.values())}; {declined} duplicate deliveries declined by the "
        f"claim; {elapsed:.1f} s ({RUNS / elapsed:.0f} runs/s)"
    )
