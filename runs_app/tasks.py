"""Celery adapters of runs_app: each takes ids or nothing and calls one service.

Invariants: tasks are registered under stable names (``runs.*``), carry only
JSON primitives, and are safe to run twice (the services they call claim their
rows or are idempotent).
"""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="runs.maintenance", ignore_result=True)
def maintenance_task() -> dict:
    """Periodic maintenance (beat, every ``MOLEXP_MAINTENANCE_INTERVAL`` s): reap stale executions."""
    counts = services.execution_reap_stale()
    if any(counts.values()):
        logger.info("maintenance: %s", counts)
    return counts
