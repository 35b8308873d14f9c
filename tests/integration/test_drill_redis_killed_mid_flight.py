"""Drill (SPEC §11): Redis killed while a worker executes, down for a while, back empty.

PostgreSQL + a private Redis. The run in progress when Redis dies finishes
(it needs only the database); the runs still queued lost their messages with
Redis and are re-sent by the reconciler once it is back; none runs twice.
"""

from __future__ import annotations

import time

import pytest
from django.db.models import Q
from django.utils import timezone

from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.models import Execution, Run
from runs_app.services import run_launch

from .conftest import wait_until
from .drill_support import (
    PrivateRedis,
    broker_pointed_at,
    drill_experiment,
    executions_run_once,
    maintain_until,
    no_problems,
    redis_queue_length,
    require_postgres_and_redis,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RUNS = 40
OUTAGE_SECONDS = 6


@pytest.fixture
def drill(project, editor, settings, tmp_path):
    require_postgres_and_redis()
    return drill_experiment(project=project, editor=editor, settings=settings, tmp_path=tmp_path)


@pytest.fixture
def private_redis(settings, tmp_path):
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    with broker_pointed_at(redis.url(), settings):
        yield redis
    redis.kill()


def test_redis_killed_mid_flight_then_back_empty(drill, editor, private_redis, celery_worker):
    began = time.monotonic()
    worker = celery_worker(env=worker_env())
    # A few quick runs, one slow run (in flight when Redis dies), then many quick runs still queued.
    runs = run_launch(user=editor, experiment=drill, sweep={"i": list(range(5))})
    [slow] = run_launch(user=editor, experiment=drill, params={"i": 99, "sleep": 3})
    runs += [slow, *run_launch(user=editor, experiment=drill, sweep={"i": list(range(100, 100 + RUNS))})]
    ids = [r.pk for r in runs]
    assert wait_until(lambda: Run.objects.get(pk=slow.pk).status == RunStatus.RUNNING, timeout=60), worker.log_tail()
    private_redis.kill()
    killed = time.monotonic()
    in_flight = list(Execution.objects.filter(run__in=ids, status=ExecutionStatus.RUNNING).values_list("pk", flat=True))
    assert in_flight

    # With the broker gone, what is running finishes: it needs only the database.
    assert wait_until(
        lambda: not Execution.objects.filter(pk__in=in_flight).exclude(status=ExecutionStatus.SUCCEEDED).exists(),
        timeout=OUTAGE_SECONDS + 10,
    ), worker.log_tail()
    in_flight_done = time.monotonic() - killed
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - killed)))
    queued_at_return = set(
        Execution.objects.filter(run__in=ids, status=ExecutionStatus.QUEUED).values_list("pk", flat=True)
    )
    assert queued_at_return, "every run finished during the outage; nothing was left to lose"

    private_redis.start()
    back_at, back = timezone.now(), time.monotonic()
    assert redis_queue_length(private_redis.url()) == 0
    redispatched: dict[str, float] = {}

    def note_redispatch() -> None:
        if "all" in redispatched:
            return
        handled = Q(dispatched_at__gt=back_at) | Q(started_at__gt=back_at)
        if "first" not in redispatched and Execution.objects.filter(pk__in=queued_at_return).filter(handled).exists():
            redispatched["first"] = time.monotonic() - back
        if not Execution.objects.filter(pk__in=queued_at_return).exclude(handled).exists():
            redispatched["all"] = time.monotonic() - back

    done = lambda: not Run.objects.filter(pk__in=ids).exclude(status=RunStatus.SUCCEEDED).exists()  # noqa: E731
    assert maintain_until(done, timeout=120, on_tick=note_redispatch), (
        f"{Run.objects.filter(pk__in=ids).exclude(status=RunStatus.SUCCEEDED).count()} runs not succeeded\n"
        + worker.log_tail()
    )
    problems = executions_run_once(ids)
    assert no_problems(problems), problems
    assert redispatched.get("all", 999) <= 60, redispatched
    print(
        f"\nDRILL redis-killed-mid-flight: {len(ids)} runs, {len(in_flight)} in flight at the kill (finished "
        f"{in_flight_done:.1f} s after it, Redis still down), {len(queued_at_return)} queued when Redis returned "
        f"after {OUTAGE_SECONDS} s; re-dispatch began {redispatched.get('first', -1):.1f} s and covered all "
        f"{redispatched['all']:.1f} s after its return; all succeeded {time.monotonic() - back:.1f} s after; "
        f"total {time.monotonic() - began:.1f} s"
    )
