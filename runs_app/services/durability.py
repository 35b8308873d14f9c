"""Transactions whose COMMIT does not wait for the WAL flush, for writes that are safe to lose in a crash.

Invariants:
- Only two kinds of writes use it: ``Execution.dispatched_at`` (``dispatch``) and the
  worker's per-task rows (``execution``). Losing either in a *database crash* is
  recovered by design (the reconciler re-sends, the claim drops duplicates; the reaper
  handles a run whose worker lost its database).
- Claims and terminal states never use it: they keep synchronous commits.
- ``update_without_fsync_wait`` is the same for one UPDATE, in one statement on PostgreSQL;
  ``upsert_without_fsync_wait`` for one row's ``INSERT … ON CONFLICT DO UPDATE``, in one round trip.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL

try:
    from psycopg import ClientCursor
except ImportError:  # pragma: no cover - psycopg is a dependency; SQLite setups may lack it
    ClientCursor = None


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


#: ``(model, unique fields, update fields)`` → the upsert statement ``upsert_without_fsync_wait`` sends.
_UPSERTS: dict[tuple, str] = {}
#: Sent first in the same simple-query message: the message's statements form one implicit transaction,
#: and a local setting lasts until its commit (the session keeps synchronous commits; tested).
_NO_FSYNC_WAIT = "SELECT set_config('synchronous_commit', 'off', true); "


def upsert_without_fsync_wait(obj: models.Model, *, unique_fields: list[str], update_fields: list[str]) -> None:
    """Insert ``obj``'s row, or update ``update_fields`` of the row with the same ``unique_fields``, with a
    COMMIT that does not wait for the WAL flush (same uses as ``without_fsync_wait``).

    The row written is the one ``Model.objects.bulk_create([obj], update_conflicts=True, unique_fields=…,
    update_fields=…)`` writes (every concrete column but an auto primary key, prepared by its field as
    Django's insert compiler does). On PostgreSQL outside a transaction, with client-side binding (Django's
    default), it is one round trip: ``set_config`` and the upsert in one simple-query message, which
    PostgreSQL runs as one implicit transaction — instead of BEGIN, SET LOCAL, the upsert and COMMIT.
    Otherwise it is that ``bulk_create`` inside ``without_fsync_wait``.
    """
    model = type(obj)
    if connection.vendor != "postgresql" or connection.in_atomic_block or ClientCursor is None:
        with without_fsync_wait():
            model._default_manager.bulk_create([obj], update_conflicts=True, unique_fields=unique_fields,
                                               update_fields=update_fields)  # fmt: skip
        return
    opts = model._meta
    fields = [f for f in opts.local_concrete_fields if not (f.primary_key and f.db_returning)]
    key = (model, tuple(unique_fields), tuple(update_fields))
    sql = _UPSERTS.get(key)
    if sql is None:
        qn = connection.ops.quote_name
        column = {f.name: f.column for f in fields}
        sql = _UPSERTS[key] = (
            f"{_NO_FSYNC_WAIT}INSERT INTO {qn(opts.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608 - quoted names from the model
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({', '.join(qn(column[name]) for name in unique_fields)}) DO UPDATE SET "
            + ", ".join(f"{qn(column[name])} = EXCLUDED.{qn(column[name])}" for name in update_fields)
        )
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection=connection) for f in fields]
    with connection.cursor() as cursor:
        if not isinstance(cursor.cursor, ClientCursor):  # server-side binding: one statement per message
            model._default_manager.bulk_create([obj], update_conflicts=True, unique_fields=unique_fields,
                                               update_fields=update_fields)  # fmt: skip
            return
        cursor.execute(sql, params)
