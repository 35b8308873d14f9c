"""A real Celery worker keeps its heartbeat row fresh and removes it on a warm shutdown; /healthz follows.

Runs on both passes (SQLite + filesystem broker, PostgreSQL + Redis): the heartbeat
is written by the worker's own process, through the suite's database.
"""

from __future__ import annotations

import pytest
from django.test import Client

from molexp_site.celery import app
from runs_app.models import ServiceHeartbeat

from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_heartbeat_appears_refreshes_and_goes_with_a_warm_shutdown(celery_worker):
    client = Client()
    assert client.get("/healthz?check=workers").status_code == 503
    worker = celery_worker(env={"MOLEXP_HEARTBEAT_SECONDS": "1"}, queues="runs,default")
    rows = ServiceHeartbeat.objects.filter(kind="worker")
    assert wait_until(rows.exists, timeout=30), worker.log_tail()
    row = rows.get()
    assert row.name.startswith("it-") and set(row.queues.split(",")) == {"runs", "default"}
    assert row.pid == worker.proc.pid
    first_seen = row.seen_at
    assert wait_until(lambda: rows.get().seen_at > first_seen, timeout=15), "the heartbeat was not refreshed"
    assert client.get("/healthz?check=workers").status_code == 200

    # The periodic maintenance, through the broker to that worker: the beat check turns green.
    assert client.get("/healthz?check=beat").status_code == 503
    app.send_task("runs.maintenance", queue="default")
    assert wait_until(lambda: ServiceHeartbeat.objects.filter(kind="maintenance").exists(), timeout=60), (
        worker.log_tail()
    )
    assert client.get("/healthz").status_code == 200

    worker.stop(graceful=True)
    assert worker.proc.returncode == 0, worker.log_tail()
    assert not rows.exists(), "a warm shutdown leaves no heartbeat behind"
    assert client.get("/healthz?check=workers").status_code == 503
