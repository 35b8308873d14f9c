"""Inserting a few rows on the launch and worker paths without compiling the INSERT each time.

Entry point: :func:`rows_insert`, ``Model.objects.bulk_create(objs)`` for the one to
``SMALL_INSERT_ROWS`` rows a one-run launch or a status transition writes (a run, its
execution, their events). Django compiles the same INSERT for every call (≈ 0.3–0.6 ms of CPU
each, three to five per run); here the statement is written once per (model, database, row
count) — ``INSERT INTO t (columns) VALUES (%s, …), … RETURNING pk``, the form Django compiles
for one row — and sent again with the values of the new rows.

Invariants:
- The rows written are ``bulk_create``'s: every concrete column but an unset auto primary key,
  each value from ``Field.pre_save(obj, add=True)`` prepared by ``get_db_prep_save`` (what
  Django's insert compiler does), and the objects get their returned primary key,
  ``_state.adding = False`` and ``_state.db`` as ``bulk_create`` sets them.
- Anything else — expressions as values, a set primary key, more rows, a database that cannot
  return rows from an INSERT — goes through ``bulk_create`` itself.
"""

from __future__ import annotations

from django.db import connections, router, transaction
from django.db.models import AutoField, Model

#: Up to this many rows take the kept statement (a launch of a few runs; a sweep is a bulk insert).
SMALL_INSERT_ROWS = 4

#: (model, database alias, row count) → its INSERT … RETURNING statement.
_COMPILED_INSERTS: dict[tuple, str] = {}


def rows_insert(objs: list[Model]) -> list[Model]:
    """``type(objs[0]).objects.bulk_create(objs)`` (one batch; see the module docstring); returns ``objs``.

    Side effects: the rows, in the caller's transaction if one is open; each object's primary key.
    Raises what ``bulk_create`` raises (an ``IntegrityError`` marks the caller's transaction for rollback).
    """
    if not objs:
        return objs
    model = type(objs[0])
    opts = model._meta
    alias = router.db_for_write(model)
    connection = connections[alias]
    manager = model._default_manager.db_manager(alias)
    if (
        len(objs) > SMALL_INSERT_ROWS
        or not connection.features.can_return_rows_from_bulk_insert
        or any(type(obj) is not model or obj._is_pk_set() for obj in objs)
    ):
        return manager.bulk_create(objs)
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
    fields = [f for f in opts.concrete_fields if not f.generated and not isinstance(f, AutoField)]
    params = []
    for obj in objs:
        for field in fields:
            value = field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):  # an expression: Django compiles it into the SQL
                return manager.bulk_create(objs)
            params.append(field.get_db_prep_save(value, connection=connection))
    key = (model, alias, len(objs))
    sql = _COMPILED_INSERTS.get(key)
    if sql is None:
        qn = connection.ops.quote_name
        row = f"({', '.join(['%s'] * len(fields))})"
        returning, _ = connection.ops.return_insert_columns(opts.db_returning_fields)
        sql = _COMPILED_INSERTS[key] = (
            f"INSERT INTO {qn(opts.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608 - quoted names
            f"VALUES {', '.join([row] * len(objs))} {returning}"
        )
    with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    for obj, row in zip(objs, returned, strict=True):
        for field, value in zip(opts.db_returning_fields, row, strict=True):
            setattr(obj, field.attname, value)
        obj._state.adding = False
        obj._state.db = alias
    return objs
