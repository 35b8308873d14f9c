"""Celery adapters of runs_app: each takes ids or nothing and calls one service.

Invariants: tasks are registered under stable names (``runs.*``), carry only
JSON primitives, and are safe to run twice (the services they call claim their
rows or are idempotent). A failed workflow is recorded by the service and is
never retried by Celery; only transient database errors before the claim are.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import InterfaceError, OperationalError

from assets_app.services.log_sweep import log_finalize_abandoned

from . import services

logger = logging.getLogger(__name__)


@shared_task(
    name="runs.execution_run",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
    time_limit=settings.MOLEXP_TASK_TIME_LIMIT,
    soft_time_limit=settings.MOLEXP_TASK_TIME_LIMIT - 60,
)
def execution_run_task(execution_id: int) -> str:
    """Execute one run attempt (queue ``runs``)."""
    return services.execution_run(execution_id=execution_id)


@shared_task(name="runs.execution_terminate", ignore_result=True)
def execution_terminate_task(execution_id: int) -> bool:
    """Kill an execution still cancelling after the grace period."""
    return services.execution_terminate(execution_id=execution_id)


@shared_task(name="runs.maintenance", ignore_result=True)
def maintenance_task() -> dict:
    """Periodic maintenance (beat, every ``MOLEXP_MAINTENANCE_INTERVAL`` s).

    Reaps executions whose heartbeat stopped (lost → retry or fail), then
    re-sends queued executions whose broker message was lost, then finalizes
    the logs of executions that stopped without finalizing them (killed, lost,
    terminated), then purges trash entries older than ``MOLEXP_TRASH_DAYS``.
    """
    counts = services.execution_reap_stale()
    counts["redispatched"] = services.execution_reconcile()
    counts["logs_finalized"] = log_finalize_abandoned()
    counts["trash_purged"] = services.trash_expire()
    services.heartbeat_prune()
    # /healthz's beat freshness: beat sent this task and a default-queue worker ran it to the end.
    services.heartbeat_record(kind="maintenance", name="runs.maintenance")
    if any(counts.values()):
        logger.info("maintenance: %s", counts)
    return counts


@worker_ready.connect
def _worker_heartbeat_start(sender=None, **_kwargs) -> None:
    """The worker's main process keeps a heartbeat row fresh (/healthz, /metrics)."""
    services.worker_heartbeat_start(hostname=sender.hostname, queues=list(sender.app.amqp.queues.consume_from))


@worker_shutdown.connect
def _worker_heartbeat_stop(**_kwargs) -> None:
    services.worker_heartbeat_stop()
