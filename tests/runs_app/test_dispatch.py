"""Dispatch: one function sends every execution (launch, restart, reaper, reconciler), after commit, and
the kombu pipelining behind it is pinned to the kombu version it was written for."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from runs_app.choices import ExecutionStatus, RunStatus, Trigger
from runs_app.models import Execution
from runs_app.services import dispatch as dispatch_module
from runs_app.services import (
    execution_reap_stale,
    execution_reconcile,
    run_launch,
    run_rerun,
    run_resume,
)
from runs_app.services.kombu_pipeline import pipelined_publishing
from tests import factories as f

redis_only = pytest.mark.skipif(
    not str(settings.CELERY_BROKER_URL).startswith("redis://"), reason="pipelining is Redis-only"
)
not_redis = pytest.mark.skipif(
    str(settings.CELERY_BROKER_URL).startswith("redis://"), reason="the embedded filesystem:// transport"
)
QUEUE = "molexp-test-dispatch"


@pytest.fixture
def sent(monkeypatch):
    """Every call of the one dispatch function, recorded instead of sent."""
    calls: list[list[tuple[int, str]]] = []
    monkeypatch.setattr(dispatch_module, "execution_dispatch", lambda executions: calls.append(list(executions)))
    return calls


# --- the kombu pin ---------------------------------------------------------------------------


def test_kombu_is_the_version_the_pipelining_was_written_for():
    """Bumping kombu fails here first: re-read ``runs_app/services/kombu_pipeline.py`` against the new
    ``kombu/transport/redis.py`` (the private API it lists), then move both pins."""
    import kombu
    from kombu.transport import redis as kombu_redis

    requirements = (Path(settings.BASE_DIR) / "requirements.txt").read_text()
    pinned = re.search(r"^kombu==(\S+)$", requirements, re.MULTILINE).group(1)
    assert pinned == kombu.__version__ == "5.5.4"
    for name in ("_put", "_get_message_priority", "_q_for_pri", "_create_client"):
        assert callable(getattr(kombu_redis.Channel, name)), name
    assert isinstance(kombu_redis.Channel.__dict__["pool"], property)
    assert hasattr(kombu_redis.Channel, "global_keyprefix")
    assert callable(kombu_redis.dumps)


# --- pipelined_publishing -----------------------------------------------------------------------


@not_redis
def test_pipelining_leaves_another_transport_alone():
    from molexp_site.celery import app

    with app.producer_or_acquire() as producer:
        before = producer.channel.__dict__.get("_put")
        with pipelined_publishing(producer) as pipelined:
            assert pipelined.active is False
            assert producer.channel.__dict__.get("_put") is before  # nothing shadowed
            pipelined.flush()  # a no-op


def _raw_queue(client) -> list[dict]:
    return [json.loads(raw) for raw in client.lrange(QUEUE, 0, -1)]


@redis_only
def test_pipelined_messages_wait_for_flush_and_equal_kombus_own():
    from molexp_site.celery import app

    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        client.delete(QUEUE)
        try:
            with app.producer_or_acquire() as producer:
                app.send_task("runs.execution_run", kwargs={"execution_id": 1}, task_id="own", queue=QUEUE,
                              producer=producer)  # fmt: skip
                assert client.llen(QUEUE) == 1
                with pipelined_publishing(producer) as pipelined:
                    assert pipelined.active is True
                    assert "_put" in producer.channel.__dict__  # shadowed on this channel only
                    app.send_task("runs.execution_run", kwargs={"execution_id": 1}, task_id="piped", queue=QUEUE,
                                  producer=producer)  # fmt: skip
                    app.send_task("runs.execution_run", kwargs={"execution_id": 2}, task_id="piped2", queue=QUEUE,
                                  producer=producer)  # fmt: skip
                    assert client.llen(QUEUE) == 1  # queued on the pipeline, not sent
                    pipelined.flush()
                    assert client.llen(QUEUE) == 3  # both in one round trip
                    app.send_task("runs.execution_run", kwargs={"execution_id": 3}, task_id="dropped", queue=QUEUE,
                                  producer=producer)  # fmt: skip
                assert "_put" not in producer.channel.__dict__  # kombu's own _put is back
            assert client.llen(QUEUE) == 3  # what was never flushed is discarded, not sent late
            own, piped = _raw_queue(client)[-1], _raw_queue(client)[-2]  # LPUSH: the oldest is last
            assert own["headers"]["id"] == "own" and piped["headers"]["id"] == "piped"
            # Same key, same serialization: the same message but for its ids and delivery tag.
            for message in (own, piped):
                message["headers"].pop("id"), message["headers"].pop("root_id")
                message["properties"].pop("correlation_id"), message["properties"].pop("delivery_tag")
            assert own["headers"] == piped["headers"] and own["properties"] == piped["properties"]
            assert own["body"] == piped["body"]
        finally:
            client.delete(QUEUE)


@redis_only
def test_a_channel_keeps_its_pipelining_client_while_its_pool_is_the_same():
    from molexp_site.celery import app

    with app.producer_or_acquire() as producer:
        with pipelined_publishing(producer) as first:
            client = first.pipe
        with pipelined_publishing(producer) as second:
            assert second.pipe is not client  # a pipeline per use …
            assert second.pipe.connection_pool is producer.channel.pool  # … of the channel's publishing pool
            kept = producer.channel.__dict__["_molexp_pipeline_client"]
        with pipelined_publishing(producer):
            assert producer.channel.__dict__["_molexp_pipeline_client"] is kept  # one client, made once
        producer.channel.__dict__["_molexp_pipeline_client"].connection_pool = object()  # as if the pool changed
        with pipelined_publishing(producer) as again:
            assert producer.channel.__dict__["_molexp_pipeline_client"] is not kept
            assert again.pipe.connection_pool is producer.channel.pool


# --- execution_dispatch ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_dispatch_waits_for_the_commit(django_capture_on_commit_callbacks):
    execution = f.ExecutionFactory(number=1, status=ExecutionStatus.QUEUED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dispatch_module.execution_dispatch([(execution.pk, str(execution.uuid))])
        dispatch_module.execution_dispatch([])  # nothing to send: nothing registered
    assert len(callbacks) == 1
    assert Execution.objects.get(pk=execution.pk).dispatched_at is None


@pytest.mark.django_db
def test_a_broker_failure_is_logged_and_leaves_the_execution_for_the_reconciler(
    monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from molexp_site.celery import app

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(app, "producer_or_acquire", down)
    execution = f.ExecutionFactory(number=1, status=ExecutionStatus.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_module.execution_dispatch([(execution.pk, str(execution.uuid))])
    assert Execution.objects.get(pk=execution.pk).dispatched_at is None
    assert "dispatch failed after 0 of 1 executions" in caplog.text


@pytest.mark.django_db
def test_a_sent_execution_is_marked_dispatched(django_capture_on_commit_callbacks):
    from molexp_site.celery import app

    execution = f.ExecutionFactory(number=1, status=ExecutionStatus.QUEUED)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("runs")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            dispatch_module.execution_dispatch([(execution.pk, str(execution.uuid))])
        assert Execution.objects.get(pk=execution.pk).dispatched_at is not None
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("runs")


# --- one function for every path -----------------------------------------------------------------


@pytest.mark.django_db
def test_launch_dispatches_through_the_one_function(chem_experiment, editor, sent):
    runs = run_launch(user=editor, experiment=chem_experiment, sweep={"x": [1, 2]})
    executions = Execution.objects.filter(run__in=runs).order_by("run__number")
    assert sent == [[(e.pk, str(e.uuid)) for e in executions]]


@pytest.mark.django_db
@pytest.mark.parametrize("restart", [run_rerun, run_resume])
def test_a_restart_dispatches_through_the_one_function(editor, experiment, sent, restart):
    run = f.RunFactory(status=RunStatus.FAILED, experiment=experiment)
    f.ExecutionFactory(run=run, number=1, status=ExecutionStatus.FAILED)
    execution = restart(user=editor, run=run)
    assert sent == [[(execution.pk, str(execution.uuid))]]


@pytest.mark.django_db
def test_the_reaper_dispatches_its_retry_through_the_one_function(settings, sent):
    settings.MOLEXP_LOST_RETRIES = 1
    run = f.RunFactory(status=RunStatus.RUNNING)
    f.ExecutionFactory(run=run, number=1, status=ExecutionStatus.RUNNING,
                       heartbeat_at=timezone.now() - timedelta(hours=1))  # fmt: skip
    assert execution_reap_stale()["retried"] == 1
    retry = Execution.objects.get(run=run, trigger=Trigger.RETRY)
    assert sent == [[(retry.pk, str(retry.uuid))]]


@pytest.mark.django_db
def test_the_reconciler_resends_through_the_one_function(sent):
    execution = f.ExecutionFactory(number=1, status=ExecutionStatus.QUEUED)
    Execution.objects.filter(pk=execution.pk).update(queued_at=timezone.now() - timedelta(minutes=1))
    fresh = f.ExecutionFactory(number=1, status=ExecutionStatus.QUEUED)  # under 5 s old: its message is on its way
    assert execution_reconcile() == 0  # recorded here, not sent: nothing was marked dispatched
    assert sent == [[(execution.pk, str(execution.uuid))]]
    assert fresh.pk not in [pk for pk, _ in sent[0]]
