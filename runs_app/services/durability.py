"""Transactions whose COMMIT does not wait for the WAL flush, for writes that are safe to lose in a crash.

Invariants:
- Only two kinds of writes use it: ``Execution.dispatched_at`` (``dispatch``) and the
  worker's per-task rows (``execution``). Losing either in a *database crash* is
  recovered by design (the reconciler re-sends, the claim drops duplicates; the reaper
  handles a run whose worker lost its database).
- Claims and terminal states never use it: they keep synchronous commits.
- ``update_without_fsync_wait`` is the same for one UPDATE, in one statement on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL


@contextmanager
def without_fsync_wait() -> Iterator[None]:
    """A transaction whose COMMIT does not wait for the WAL flush (PostgreSQL ``SET LOCAL
    synchronous_commit = off``; a plain transaction elsewhere).

    Only for writes whose loss in a *database crash* (never in a clean restart, and
    never when a later synchronous commit of any session has flushed the WAL past them,
    within ~0.2 s) is harmless and recovered by design: ``dispatched_at`` (lost → the
    reconciler re-sends, the claim drops the duplicate) and the worker's per-task rows
    (followed by the synchronous commit that ends the execution; a crashed database
    leaves the run to the reaper anyway). A synchronous commit waits for an fsync
    (~7 ms on this machine's disk, most of a trivial run's cost); this one does not.
    Claims and terminal states keep synchronous commits.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        yield


def update_without_fsync_wait(queryset: models.QuerySet, **fields) -> int:
    """``queryset.update(**fields)`` with a COMMIT that does not wait for the WAL flush (same uses as above).

    On PostgreSQL outside a transaction this is one statement: the UPDATE is its own transaction,
    and a condition of its WHERE sets ``synchronous_commit`` for that transaction
    (``set_config(…, is_local => true)``, evaluated for the rows it changes, before the commit),
    so BEGIN, SET LOCAL and COMMIT need no round trips of their own. Otherwise ``without_fsync_wait``.
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        local_setting = RawSQL(
            "set_config('synchronous_commit', 'off', true) IS NOT NULL", [], output_field=models.BooleanField()
        )  # fmt: skip
        return queryset.filter(local_setting).update(**fields)
    with without_fsync_wait():
        return queryset.update(**fields)
