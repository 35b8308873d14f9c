"""Heartbeats of the processes /healthz watches: Celery workers and the periodic maintenance.

Invariants:
- One ``ServiceHeartbeat`` row per (kind, name); writers only upsert their own row.
- A worker's main process starts one daemon thread (``worker_heartbeat_start``, from
  Celery's ``worker_ready``) that refreshes its row every ``MOLEXP_HEARTBEAT_SECONDS``;
  no broker round trip, so a slow or busy pool cannot delay it. A warm shutdown
  deletes the row (a worker that was stopped on purpose is not "silent").
- A failed write (database away) is logged and retried at the next beat; it never
  stops the worker.
- Rows of workers silent for a day are pruned by the maintenance task.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from ..models import ServiceHeartbeat

logger = logging.getLogger(__name__)

Kind = ServiceHeartbeat.Kind
#: Worker rows silent this long are deleted by the maintenance (a machine that is gone for good).
PRUNE_AFTER = timedelta(days=1)

_state: dict[str, object] = {}


def heartbeat_record(*, kind: str, name: str, queues: str = "", restart: bool = False) -> None:
    """Upsert the row of (``kind``, ``name``): ``seen_at`` now; ``started_at`` too when ``restart``."""
    now = timezone.now()
    fields = {"seen_at": now, "queues": queues[:255], "pid": os.getpid()}
    if restart:
        fields["started_at"] = now
    if ServiceHeartbeat.objects.filter(kind=kind, name=name).update(**fields):
        return
    try:
        with transaction.atomic():
            ServiceHeartbeat.objects.create(kind=kind, name=name, **{"started_at": now, **fields})
    except IntegrityError:  # a concurrent first write won: ours is an update after all
        ServiceHeartbeat.objects.filter(kind=kind, name=name).update(**fields)


def heartbeat_prune(*, now=None) -> int:
    """Delete the rows of workers silent for ``PRUNE_AFTER``; returns how many."""
    cutoff = (now or timezone.now()) - PRUNE_AFTER
    deleted, _ = ServiceHeartbeat.objects.filter(kind=Kind.WORKER, seen_at__lt=cutoff).delete()
    return deleted


def worker_heartbeat_start(*, hostname: str, queues: list[str]) -> None:
    """Record the worker and start the thread that keeps its row fresh (once per process)."""
    if _state.get("thread"):
        return
    queue_list = ",".join(sorted(queues))
    try:
        heartbeat_record(kind=Kind.WORKER, name=hostname, queues=queue_list, restart=True)
    except Exception:
        logger.warning("worker heartbeat: first write failed; the thread keeps trying", exc_info=True)
    stop = threading.Event()
    thread = threading.Thread(
        target=_heartbeat_loop, args=(hostname, queue_list, stop), name="molexp-heartbeat", daemon=True
    )
    _state.update(thread=thread, stop=stop, hostname=hostname)
    thread.start()


def worker_heartbeat_stop() -> None:
    """On a warm shutdown: stop the thread and delete the worker's row."""
    stop, hostname = _state.pop("stop", None), _state.pop("hostname", None)
    _state.pop("thread", None)
    if stop is None:
        return
    stop.set()
    try:
        ServiceHeartbeat.objects.filter(kind=Kind.WORKER, name=hostname).delete()
    except Exception:
        logger.warning("worker heartbeat: could not remove the row of %s", hostname, exc_info=True)


def _heartbeat_loop(hostname: str, queues: str, stop: threading.Event) -> None:
    while not stop.wait(settings.MOLEXP_HEARTBEAT_SECONDS):
        try:
            close_old_connections()  # a connection broken by a database restart is replaced
            heartbeat_record(kind=Kind.WORKER, name=hostname, queues=queues)
        except Exception:
            logger.warning("worker heartbeat: write failed; retrying in %s s", settings.MOLEXP_HEARTBEAT_SECONDS)
    connection.close()  # this thread's own connection
