"""Where PostgreSQL keeps an asset's tsvector (migration 0012, issue 17).

An error trace's row carries its traceback twice (the ``traceback`` column and the indexed
``search_text``) plus their tsvector; past the 2 kB TOAST threshold PostgreSQL moved the largest
value out of line, and that was the tsvector: every ``search_vector @@ …`` check of such a row then
read the TOAST index and table too. With ``STORAGE MAIN`` the long text columns move out and the
tsvector stays in the heap row, so checking a word reads the row's page and nothing else.
"""

from __future__ import annotations

import json
import random

import pytest
from django.db import connection

from assets_app.selectors import asset_search
from assets_app.services.run_assets import error_trace_create
from tests import factories as f

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL storage"),
]


def _long_traceback() -> str:
    rng = random.Random(17)
    words = ["".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(9)) for _ in range(40)]
    lines = [f'  File "/srv/wf/{w}.py", line {i}, in {w}_step' for i, w in enumerate(words)]
    return "Traceback (most recent call last):\n" + "\n".join(lines) + "\nRuntimeError: flux capacitor"


def _buffers(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    top = plan[0]["Plan"]
    return top["Shared Hit Blocks"] + top["Shared Read Blocks"]


def test_the_tsvector_of_a_long_error_trace_stays_in_its_row(viewer, run):
    execution = f.ExecutionFactory(run=run, number=1)
    text = _long_traceback()
    trace = error_trace_create(
        run=run, execution=execution, task="train", exception_type="RuntimeError",
        message="flux capacitor", traceback_text=text, frames=[("/srv/wf/a.py", "train")],
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'assets_app_asset'::regclass "
            "AND attname = 'search_vector'"
        )
        assert cursor.fetchone()[0] == "m"
        cursor.execute("SELECT pg_column_size(search_vector) FROM assets_app_asset WHERE id = %s", [trace.pk])
        assert cursor.fetchone()[0] > 2048  # on its own past the TOAST threshold: the case that matters
    word = text.split('"/srv/wf/')[20].split(".py")[0]
    # the primary key's pages and the row's heap page, as for a small column: no TOAST index, no TOAST chunks
    row_only = _buffers("SELECT kind FROM assets_app_asset WHERE id = %s", [trace.pk])
    sql = "SELECT search_vector @@ to_tsquery('simple', %s) FROM assets_app_asset WHERE id = %s"
    assert _buffers(sql, [word, trace.pk]) == row_only
    # and the search finds it by that word
    [row] = asset_search(user=viewer, q=word).page(1, 10).rows
    assert row.pk == trace.pk
