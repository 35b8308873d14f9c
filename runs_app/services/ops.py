"""What an operator watches: the health checks of /healthz and the database-backed metrics of /metrics.

A service module because the checks reach other services (the broker, the asset storage through
``assets_app.services``); it writes nothing.

Invariants:
- Reads only, and cheap: /healthz costs three database queries and one broker round
  trip (never a write, never a Celery broadcast); the metrics collector costs three
  queries and one broker round trip, whatever the number of runs
  (``tests/runs_app/test_ops_endpoints.py`` asserts both).
- States shared by every process (runs by status, lost executions, queue depths,
  heartbeats) are read from the database and the broker at scrape time, so any web
  process answers the same; nothing here is kept in process memory.
- No check result carries a secret: the broker's URL and the storage's credentials
  are never part of an answer; error texts are for staff only (the view decides).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..choices import ExecutionStatus, RunStatus
from ..models import Execution, Run, ServiceHeartbeat

#: The checks of /healthz, in the order of the answer.
HEALTH_CHECKS = ("database", "broker", "storage", "beat", "workers")
BROKER_TIMEOUT_SECONDS = 2.0


class CheckFailed(Exception):
    """A health check found its service unhealthy; ``detail`` is shown to staff."""

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.detail = detail


def required_queues() -> tuple[str, ...]:
    """The queues some worker must consume: workflow runs and the default (maintenance) queue."""
    return ("runs", settings.CELERY_TASK_DEFAULT_QUEUE)


# --- the broker -------------------------------------------------------------------------------


def broker_kind() -> str:
    return "filesystem" if settings.CELERY_BROKER_URL.startswith("filesystem://") else "redis"


def broker_queue_depths(queues: tuple[str, ...] | None = None, *, url: str | None = None) -> dict[str, int]:
    """Messages waiting per queue: Redis' list lengths, or the filesystem broker's message files.

    One connection (to ``url``, default the configured broker), bounded by
    ``BROKER_TIMEOUT_SECONDS`` and a single connection attempt.
    """
    from kombu.exceptions import ChannelError

    from molexp_site.celery import app

    queues = queues or required_queues()
    if broker_kind() == "filesystem":
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
            raise CheckFailed("the broker folder is not a writable folder")
    options = {
        **(app.conf.broker_transport_options or {}),
        "max_retries": 1,
        "socket_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
    }
    depths = {}
    with app.connection_for_read(url, transport_options=options, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        channel = conn.default_channel
        for queue in queues:
            try:
                depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError as exc:
                if "NOT_FOUND" not in str(exc):
                    raise
                depths[queue] = 0  # never declared: nothing was ever sent to it
    return depths


# --- health checks -----------------------------------------------------------------------------


def _check_database(now) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _check_broker(now) -> dict:
    return {"kind": broker_kind(), "queues": broker_queue_depths()}


def _check_storage(now) -> dict:
    from assets_app.services import StorageProbeFailed, storage_ping

    try:
        storage_ping()
    except StorageProbeFailed as exc:
        raise CheckFailed(str(exc)) from None
    return {"local": settings.MOLEXP_STORAGE_BACKEND.endswith("FileSystemStorage")}


def _check_beat(now) -> dict:
    row = ServiceHeartbeat.objects.filter(kind=ServiceHeartbeat.Kind.MAINTENANCE).order_by("-seen_at").first()
    limit = settings.MOLEXP_HEALTH_MAINTENANCE_MAX_AGE
    if row is None:
        raise CheckFailed("the periodic maintenance has not run yet (is beat running?)", max_age_seconds=limit)
    age = round((now - row.seen_at).total_seconds(), 1)
    if age > limit:
        raise CheckFailed(
            f"the periodic maintenance last ran {age} s ago (beat or the default-queue worker is down)",
            age_seconds=age,
            max_age_seconds=limit,
        )
    return {"age_seconds": age, "max_age_seconds": limit}


def _check_workers(now) -> dict:
    fresh_after = now - timedelta(seconds=settings.MOLEXP_LOST_AFTER_SECONDS)
    rows = list(ServiceHeartbeat.objects.filter(kind=ServiceHeartbeat.Kind.WORKER).order_by("name")[:200])
    workers = [
        {
            "name": row.name,
            "queues": [q for q in row.queues.split(",") if q],
            "age_seconds": round((now - row.seen_at).total_seconds(), 1),
            "fresh": row.seen_at >= fresh_after,
        }
        for row in rows
    ]
    served = {q for w in workers if w["fresh"] for q in w["queues"]}
    missing = [q for q in required_queues() if q not in served]
    if missing:
        raise CheckFailed(f"no live worker consumes {', '.join(missing)}", workers=workers)
    return {"workers": workers}


_CHECKS: dict[str, Callable[[Any], dict]] = {
    "database": _check_database,
    "broker": _check_broker,
    "storage": _check_storage,
    "beat": _check_beat,
    "workers": _check_workers,
}


def health_report(checks: tuple[str, ...] = HEALTH_CHECKS) -> dict[str, dict]:
    """Run ``checks``; each result is ``{"ok", "ms", "detail", "error"}`` (``error`` only on failure)."""
    now = timezone.now()
    results: dict[str, dict] = {}
    for name in checks:
        started = time.perf_counter()
        result: dict[str, Any] = {"ok": True}
        try:
            result["detail"] = _CHECKS[name](now)
        except CheckFailed as exc:
            result.update(ok=False, error=str(exc), detail=exc.detail)
        except Exception as exc:  # the service is down: the answer says so instead of failing
            result.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:300], detail={})
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        results[name] = result
    return results


# --- metrics read at scrape time ----------------------------------------------------------------


class OpsCollector:
    """A prometheus_client collector: database and broker state, read on every scrape (3 queries)."""

    def collect(self) -> Iterator:
        runs = GaugeMetricFamily("molexp_runs", "Runs by status (from the database).", labels=["status"])
        by_status = dict(Run.objects.order_by().values_list("status").annotate(n=Count("*")))
        for status in RunStatus.values:
            runs.add_metric([status], by_status.get(status, 0))
        yield runs

        lost = CounterMetricFamily(
            "molexp_executions_lost", "Executions the reaper marked lost (no heartbeat), from the database."
        )
        lost.add_metric([], Execution.objects.filter(status=ExecutionStatus.LOST).count())
        yield lost

        now = timezone.now()
        rows = list(ServiceHeartbeat.objects.values_list("kind", "seen_at"))
        fresh_after = now - timedelta(seconds=settings.MOLEXP_LOST_AFTER_SECONDS)
        alive = GaugeMetricFamily("molexp_workers_alive", "Celery workers whose heartbeat is fresh.")
        alive.add_metric([], sum(1 for kind, seen in rows if kind == "worker" and seen >= fresh_after))
        yield alive
        maintenance = [seen for kind, seen in rows if kind == "maintenance"]
        last = GaugeMetricFamily(
            "molexp_maintenance_last_run_timestamp_seconds", "When the periodic maintenance last completed."
        )
        last.add_metric([], max(maintenance).timestamp() if maintenance else 0)
        yield last

        up = GaugeMetricFamily("molexp_broker_up", "1 when the broker answered this scrape.")
        depth = GaugeMetricFamily("molexp_queue_messages", "Messages waiting in a broker queue.", labels=["queue"])
        try:
            depths = broker_queue_depths()
        except Exception:
            depths = None
        up.add_metric([], 0 if depths is None else 1)
        yield up
        for queue, count in (depths or {}).items():
            depth.add_metric([queue], count)
        yield depth
