"""molexp_site.pg_arrays: the list dumper writes psycopg's own bytes, and Django's connections use it."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from psycopg.adapt import PyFormat, Transformer
from psycopg.types.array import ListDumper as PsycopgListDumper

from molexp_site.pg_arrays import ListDumper

ELEMENTS = [
    "plain",
    "with space",
    'a "quoted" word',
    "back\\slash and \\\\ two",
    '\\"',
    "{braces, commas}",
    "",
    "NULL",
    "ünïcødé ✓",
    "line\nbreak\ttab",
    json.dumps({"lr": 0.1, "name": 'x"y', "path": "C:\\data", "nested": {"a": [1, "b"]}}),
    None,
]


def _dump(dumper_class, obj):
    tx = Transformer()
    tx.adapters.register_dumper(list, dumper_class)
    return bytes(tx.get_dumper(obj, PyFormat.TEXT).dump(obj))


def test_psycopg_escapes_with_the_attribute_replaced():
    # what pg_arrays relies on: the stock dumper's escaping is the class attribute ``_re_esc``
    assert PsycopgListDumper._re_esc.pattern == rb'(["\\])'
    assert {"_re_esc", "sub"} <= set(PsycopgListDumper._dump_list.__code__.co_names)


@pytest.mark.parametrize(
    "obj",
    [ELEMENTS, [[e, e] for e in ELEMENTS if e is not None], [1, 2, None], [], ["x" * 5000 + '"' * 100]],
    ids=["strings", "nested", "numbers", "empty", "long"],
)
def test_same_bytes_as_psycopg(obj):
    assert _dump(ListDumper, obj) == _dump(PsycopgListDumper, obj)


@pytest.mark.django_db
def test_django_connections_use_it_and_round_trip():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no array parameters")
    connection.ensure_connection()
    dumper = connection.connection.adapters.get_dumper(list, PyFormat.TEXT)
    assert dumper is ListDumper
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [ELEMENTS])
        assert cursor.fetchone()[0] == ELEMENTS
        documents = [{"q": 'say "hi"', "p": "a\\b"}, {"n": [1, 2]}]
        cursor.execute(
            "SELECT array_agg(d ORDER BY i) FROM unnest(%s::jsonb[]) WITH ORDINALITY AS t(d, i)",
            [[json.dumps(d) for d in documents]],
        )
        # Django's connection reads jsonb as text (JSONField decodes it)
        assert [json.loads(d) for d in cursor.fetchone()[0]] == documents
