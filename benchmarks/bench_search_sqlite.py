"""Catalog search on the SQLite fallback (SPEC §11: p95 ≤ 300 ms at 1 M assets).

The SQLite database is built from the PostgreSQL bench data (same generator, same seed, so the
same words): ``migrate`` on an empty SQLite file (FTS5 tables and triggers from the app's own
migrations), the rows copied table by table, then ``ensure_fts`` rebuilds the FTS5 indexes once
(triggers are dropped during the copy, as ``gen_data`` drops PostgreSQL's secondary indexes).
It is kept in ``$BENCH_VAR_DIR/search-<scale>.sqlite3`` and reused; ``--rebuild`` makes it again.

Then the query mix of ``bench_search`` runs through ``asset_search(...).page(1, 50)`` and
through ``GET /api/assets/?q=``.

    python benchmarks/bench_search_sqlite.py --scale=full [--rebuild]
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

P50, P95 = None, 300.0
TABLES = [
    "auth_user",
    "runs_app_workspace",
    "runs_app_membership",
    "runs_app_project",
    "runs_app_experiment",
    "runs_app_run",
    "assets_app_asset",
]
BATCH = 5000


def _value(v):
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.isoformat(" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if isinstance(v, uuid.UUID):
        return v.hex
    if isinstance(v, decimal.Decimal):
        return str(v)
    return v


def build(path: Path, pg_url: str) -> float:
    """Create the SQLite file from the PostgreSQL bench database; seconds taken."""
    import psycopg
    from django.core.management import call_command
    from django.db import connection

    from assets_app.search.sqlite_fts import drop_fts, ensure_fts

    t0 = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    call_command("migrate", verbosity=0, interactive=False)
    drop_fts(connection)  # the copy goes in without triggers; ensure_fts rebuilds once at the end
    src = psycopg.connect(pg_url)
    with connection.cursor() as cur:
        cur.execute("PRAGMA foreign_keys = OFF")
        for table in TABLES:
            cur.execute(f"PRAGMA table_info({table})")
            lite_cols = [row[1] for row in cur.fetchall()]
            with src.cursor() as pc:
                pc.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table])
                pg_cols = {row[0] for row in pc.fetchall()}
            cols = [c for c in lite_cols if c in pg_cols]
            cur.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"  # noqa: S608
            n = 0
            with src.cursor(name=f"copy_{table}") as pc:
                pc.itersize = BATCH
                pc.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY id")  # noqa: S608
                while rows := pc.fetchmany(BATCH):
                    cur.executemany(insert, [tuple(_value(v) for v in row) for row in rows])
                    n += len(rows)
            connection.commit() if not connection.get_autocommit() else None
            print(f"  {table}: {n:,} rows", flush=True)
        cur.execute("PRAGMA foreign_keys = ON")
    src.close()
    t1 = time.perf_counter()
    ensure_fts(connection)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"  copy {t1 - t0:.0f} s, FTS5 rebuild + ANALYZE {time.perf_counter() - t1:.0f} s", flush=True)
    return time.perf_counter() - t0


def main() -> None:
    scale = common.scale_name()
    meta = json.loads((common.VAR_DIR / "gen_meta.json").read_text())
    if meta.get("scale") != scale:
        raise SystemExit(f"gen_meta.json is for {meta.get('scale')!r}; run gen_data at {scale!r} first")
    pg_url = common.DATABASE_URL
    path = common.VAR_DIR / f"search-{scale}.sqlite3"
    fresh = "--rebuild" in sys.argv or not path.exists()
    common.DATABASE_URL = f"sqlite:///{path}"  # bench_env() reads it: Django runs on the SQLite file
    common.setup()
    from django.db import connection

    from assets_app.selectors import asset_search

    if connection.vendor != "sqlite":
        raise SystemExit(f"expected SQLite, got {connection.vendor}")
    report = common.Report("search_sqlite")
    if fresh:
        print(f"building {path} from {pg_url} ...", flush=True)
        seconds = build(path, pg_url)
        report.add("SQLite copy of the bench data + FTS5 build", p50=round(seconds, 1), unit="s", target="")
    import bench_search

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM assets_app_asset")
        n_assets = cur.fetchone()[0]
    report.note(f"SQLite {connection.Database.sqlite_version}, {n_assets:,} assets in {path}")
    repeat = common.scale()["search_repeat"]
    user = common.bench_user()
    client = common.api_client()
    print(common.header())
    for label, q, extra in bench_search.queries(meta):
        filters = {k: str(v) for k, v in extra.items() if k != "sort"}
        sort = extra.get("sort", "relevance")

        def server(q=q, filters=filters, sort=sort):
            return asset_search(user=user, q=q, filters=filters, sort=sort).page(1, 50)

        page = server()
        samples = common.timed(server, repeat)
        report.latency(f"sqlite search {label} [server]", samples, p50_max=P50, p95_max=P95, hits=page.count_display)
        params = {"q": q, **filters}
        if sort != "relevance":
            params["sort"] = sort
        url = "/api/assets/?" + urlencode(params)

        def http(url=url):
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")
            return response

        samples = common.timed(http, repeat)
        report.latency(f"sqlite search {label} [HTTP API]", samples, p50_max=P50, p95_max=P95)
    print(f"-> {report.save()}")


if __name__ == "__main__":
    main()
