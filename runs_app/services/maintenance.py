"""Periodic maintenance (the ``runs.maintenance`` task): the lost-execution reaper and the dispatch reconciler.

Invariants:
- The database is the source of truth and the outbox: the reaper reads heartbeats,
  the reconciler reads ``queued`` executions and ``dispatched_at``; neither reads
  Celery results.
- Each stale execution is reaped in its own transaction through ``status_transition``;
  losing a race to the worker (it finished meanwhile) is skipped, never an error.
- A retry is a new execution of the same run, dispatched after commit by
  ``dispatch.execution_dispatch``, as is every re-send of the reconciler.
- Re-sending is safe: the worker's claim lets only one delivery of an execution run.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from molexp_site.errors import IllegalTransition

from ..choices import ExecutionStatus, RunStatus, Trigger
from ..models import Execution
from ..selectors import execution_stale_list
from . import dispatch
from .core import status_transition

logger = logging.getLogger(__name__)


def execution_reconcile(*, now=None) -> int:
    """Re-send queued executions whose broker message may be gone (the database is the outbox).

    Candidates: queued executions never dispatched (more than 5 s old) or
    dispatched more than ``MOLEXP_REDISPATCH_AFTER_SECONDS`` ago. Executions
    never dispatched are always sent. Dispatched ones are sent again only when
    the broker's ``runs`` queue holds fewer messages than there are candidates,
    i.e. when messages were lost (a broker restarted empty). A duplicate message
    is harmless: the claim lets only one delivery execute. Returns the number sent.
    """
    from kombu.exceptions import ChannelError

    from molexp_site.celery import app

    now = now or timezone.now()
    queued = Execution.objects.filter(status=ExecutionStatus.QUEUED)
    never = list(queued.filter(dispatched_at__isnull=True, queued_at__lt=now - timedelta(seconds=5))
                 .values_list("pk", "uuid")[:5000])  # fmt: skip
    stale_cutoff = now - timedelta(seconds=settings.MOLEXP_REDISPATCH_AFTER_SECONDS)
    stale = list(queued.filter(dispatched_at__lt=stale_cutoff).order_by("queued_at").values_list("pk", "uuid")[:5000])
    to_send = list(never)
    if stale:
        try:
            with app.connection_for_write() as conn:
                try:
                    in_broker = conn.default_channel.queue_declare(queue="runs", passive=True).message_count
                except ChannelError as exc:
                    if "NOT_FOUND" not in str(exc):
                        raise
                    in_broker = 0  # the broker does not know the queue at all: it came back empty
        except Exception:
            logger.warning("reconciler: cannot read the broker's queue length; not re-sending yet")
            in_broker = None
        if in_broker is not None and in_broker < len(stale):
            to_send.extend(stale)
    if not to_send:
        return 0
    started = timezone.now()
    # Outside a transaction the dispatch sends at once; inside one (a caller's), on its commit.
    dispatch.execution_dispatch([(pk, str(uuid)) for pk, uuid in to_send])
    # What the broker accepted is what the dispatch marked (a broker failure is logged there).
    sent = Execution.objects.filter(pk__in=[pk for pk, _ in to_send], dispatched_at__gte=started).count()
    if sent:
        logger.info("reconciler re-sent %d queued executions", sent)
    return sent


def execution_reap_stale(*, now=None) -> dict[str, int]:
    """Mark executions whose heartbeat went silent as ``lost`` and apply the retry policy.

    An execution is stale when its heartbeat (or its start, before the first
    beat) is older than ``MOLEXP_LOST_AFTER_SECONDS`` (an external run's, of the
    molexp client: ``MOLEXP_EXTERNAL_LOST_AFTER_SECONDS``; it is never retried,
    the server does not have its code: ``lost → failed``, error type ``ClientLost``). Its run goes
    ``running → lost``; if fewer than ``MOLEXP_LOST_RETRIES`` retry executions
    exist, a new execution with trigger ``retry`` is queued (run ``lost → queued``)
    and dispatched after commit, otherwise the run goes ``lost → failed``.
    Each execution is handled in its own transaction; losing a race to the
    worker (which finished meanwhile) is skipped, never an error.
    Returns counts ``{"lost": n, "retried": n, "failed": n}``.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.MOLEXP_LOST_AFTER_SECONDS)
    counts = {"lost": 0, "retried": 0, "failed": 0}
    external_cutoff = now - timedelta(seconds=settings.MOLEXP_EXTERNAL_LOST_AFTER_SECONDS)
    stale = execution_stale_list(older_than=cutoff, external_older_than=external_cutoff)
    for execution_id in list(stale.values_list("pk", flat=True)[:500]):
        try:
            with transaction.atomic():
                execution = Execution.objects.select_related("run").get(pk=execution_id)
                age = now - (execution.heartbeat_at or execution.started_at or now)
                message = f"No heartbeat for {int(age.total_seconds())} s from {execution.worker_hostname or 'worker'}"
                status_transition(obj=execution, to_status=ExecutionStatus.LOST, message=message)
                run = execution.run
                if run.status not in (RunStatus.RUNNING, RunStatus.CANCELLING):
                    counts["lost"] += 1
                    continue
                status_transition(obj=run, to_status=RunStatus.LOST, message=message)
                counts["lost"] += 1
                retries = run.executions.filter(trigger=Trigger.RETRY).count()
                external = execution.trigger == Trigger.EXTERNAL  # the server cannot rerun outside code
                if not external and retries < settings.MOLEXP_LOST_RETRIES and not run.cancel_requested:
                    retry = Execution.objects.create(run=run, number=run.executions.count() + 1, trigger=Trigger.RETRY)
                    status_transition(
                        obj=run, to_status=RunStatus.QUEUED, message=f"Retry {retries + 1} as execution {retry.number}"
                    )
                    dispatch.execution_dispatch([(retry.pk, str(retry.uuid))])
                    counts["retried"] += 1
                else:
                    error = {
                        "type": "ClientLost" if external else "WorkerLost",
                        "message": message,
                        "task": None,
                        "execution": execution.number,
                        "traceback_asset": None,
                    }
                    status_transition(
                        obj=run,
                        to_status=RunStatus.FAILED,
                        message="External run lost (no retry)"
                        if external
                        else f"Lost and out of retries ({settings.MOLEXP_LOST_RETRIES})",
                        error=error,
                    )
                    counts["failed"] += 1
        except IllegalTransition as exc:
            logger.info("reaper skipped execution %s: %s", execution_id, exc)
    return counts
