"""PostgreSQL session settings of MolExp's connections (molexp_site/settings.py): no parallel query,
no JIT compilation, and the session time zone given at connect (no SET TIME ZONE round trip). Every query MolExp serves is bounded; JIT starts above a plan *cost*, and a
bounded read with a poor row estimate crossed it (the runs table's latest metrics: 0.4 ms of work,
179 ms compiling)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.skipif(not settings.IS_POSTGRES, reason="PostgreSQL session settings")


def _show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_connections_run_without_jit_and_parallel_workers():
    assert _show("jit") == "off"
    assert _show("max_parallel_workers_per_gather") == "0"


@pytest.mark.parametrize(("value", "expect_jit_off"), [("off", True), ("on", False), ("", True)])
def test_molexp_pg_jit_chooses_the_option(value, expect_jit_off):
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS']['options'])"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "molexp_site.settings", "MOLEXP_PG_JIT": value}
    out = subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code], env=env,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert ("-c jit=off" in out) is expect_jit_off
    assert "-c max_parallel_workers_per_gather=0" in out


@pytest.mark.django_db
def test_a_new_connection_is_in_utc_without_a_set_time_zone_statement():
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    fresh = connections.create_connection("default")  # a new connection, as a web thread or worker opens one
    try:
        with CaptureQueriesContext(fresh) as queries:
            fresh.ensure_connection()
        # Django sends SET TIME ZONE when the server reports another name than "UTC" (Debian's "Etc/UTC").
        assert fresh.connection.info.parameter_status("TimeZone") == "UTC"
        assert not [q for q in queries if "TIME ZONE" in q["sql"].upper()]
        with fresh.cursor() as cursor:
            cursor.execute("SHOW TimeZone")
            assert cursor.fetchone()[0] == "UTC"
    finally:
        fresh.close()
