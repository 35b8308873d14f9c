"""Reads of a run's executions (attempts) and of its status history (run events).

Invariants:
- These take a ``run`` the caller already read through a scoped selector (``run_get``…):
  they do no scoping of their own.
- The history is keyset-paginated on the ``(run, id)`` index: a page costs two queries
  whatever the length of the history. The query is parsed by ``forms.run_event_cursor_clean``
  (a bad cursor is a ``ValidationError``, 400, never a 500).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet

from ..choices import ExecutionStatus, Trigger
from ..models import Execution, Run, RunEvent


def execution_list(*, run: Run) -> QuerySet[Execution]:
    """A run's attempts, oldest first, with their task executions (2 queries)."""
    return Execution.objects.filter(run=run).prefetch_related("task_executions").order_by("number")


def execution_latest(*, run: Run) -> Execution | None:
    """The run's newest execution (highest number), or None; one query."""
    return Execution.objects.filter(run_id=run.pk).order_by("-number").first()


def execution_queue_position(*, execution: Execution) -> int:
    """1-based place of a queued execution in the queue: queued executions queued before it, plus one.

    The queue is global (workers take executions of every workspace), but only a count
    is returned, so nothing about other workspaces is revealed. One query.
    """
    ahead = Execution.objects.filter(status=ExecutionStatus.QUEUED).filter(
        Q(queued_at__lt=execution.queued_at) | Q(queued_at=execution.queued_at, id__lt=execution.pk)
    )
    return ahead.count() + 1


def execution_stale_list(*, older_than, external_older_than=None) -> QuerySet[Execution]:
    """Running executions whose heartbeat (or start, before the first beat) is older than ``older_than``.

    External executions (the molexp client, SPEC §13) use their own window, ``external_older_than``
    (``None``: they are never stale).
    """

    def silent(cutoff):
        return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)

    active = [ExecutionStatus.RUNNING, ExecutionStatus.CANCELLING]
    external = Q(trigger=Trigger.EXTERNAL)
    cond = ~external & silent(older_than)
    if external_older_than is not None:
        cond |= external & silent(external_older_than)
    return Execution.objects.filter(status__in=active).filter(cond)


def run_event_list(*, run: Run) -> QuerySet[RunEvent]:
    """All of a run's status events, oldest first (unbounded: for exports; pages use ``run_event_page``)."""
    return RunEvent.objects.filter(run=run).order_by("id")


@dataclass
class RunEventPage:
    """One page of a run's status history, oldest first, with whether older/newer events exist."""

    events: list[RunEvent]
    has_older: bool
    has_newer: bool

    @property
    def first_id(self) -> int | None:
        return self.events[0].pk if self.events else None

    @property
    def last_id(self) -> int | None:
        return self.events[-1].pk if self.events else None


def run_event_page(
    *, run: Run, after: int | None = None, before: int | None = None, latest: bool = False, size: int | None = None
) -> RunEventPage:
    """A page of ``size`` status events of a run, keyset-paginated on ``id`` (2 queries whatever the history).

    ``after``: the events following that id; ``before``: the events preceding it;
    ``latest``: the newest events; none: the first events. Each page is shown oldest
    first. A run may carry hundreds of thousands of events (an imported record); a
    page reads an index range of the ``(run, id)`` index, never the whole history.
    """
    size = size or settings.MOLEXP_RUN_EVENTS_PAGE_SIZE
    events = RunEvent.objects.filter(run=run)
    if before is not None or latest:
        page = events.filter(id__lt=before) if before is not None else events
        rows = list(page.order_by("-id")[: size + 1])
        has_older = len(rows) > size
        rows = rows[:size][::-1]
        has_newer = bool(rows) and events.filter(id__gt=rows[-1].pk).exists()
        return RunEventPage(events=rows, has_older=has_older, has_newer=has_newer)
    page = events.filter(id__gt=after) if after is not None else events
    rows = list(page.order_by("id")[: size + 1])
    has_newer = len(rows) > size
    rows = rows[:size]
    has_older = bool(rows) and after is not None and events.filter(id__lt=rows[0].pk).exists()
    return RunEventPage(events=rows, has_older=has_older, has_newer=has_newer)
