"""Run the whole benchmark suite: recreate ``molexp_bench``, migrate, generate data, run every
benchmark in its own process, print one table and write ``results/summary-<scale>.json``.

    python benchmarks/run_all.py [--scale=reduced|full] [--keep-data] [--only=search,lists,...] [--skip=mlflow]
                                 [--only=scaling [--sizes=small,reduced,full] [--fresh]]

Needs PostgreSQL and Redis on 127.0.0.1 (as ``make test``). Installs nothing in the project venv;
``bench_mlflow.py`` makes its own venv for MLflow (pip) and skips itself if that fails.
``--keep-data`` reuses the database (and data) of a previous run at the same scale.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

#: In this order (``search_sqlite``: the SQLite fallback, a SQLite copy of the same data; about a
#: minute at reduced scale, several at full); ``mlflow`` (side by side with a real MLflow server,
#: own venv), then ``client`` (the molexp client over HTTP, with MLflow ratios from that venv). ``scaling``
#: (three data sizes, the cost curve picture) is opt-in: ``--only=scaling``.
BENCHES = [
    "search",
    "search_sqlite",
    "lists",
    "workbench",
    "charts",
    "launch",
    "context",
    "upload",
    "lifecycle",
    "mlflow",
    "client",
]
OPTIONAL = ["scaling"]


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(common.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{common.DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{common.DB_NAME}"')


def run(args: list[str]) -> int:
    print(f"\n$ {' '.join(args)}", flush=True)
    return subprocess.call(
        [sys.executable, *args], cwd=common.BASE_DIR, env=common.bench_env(SCALE=common.scale_name())
    )


KNOWN_FLAGS = ("--scale=", "--keep-data", "--only=", "--skip=", "--fresh", "--sizes=")
#: Passed on to each bench script (``bench_scaling.py`` reads them).
PASS_ON = ("--fresh", "--sizes=")


def main() -> int:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        return 0
    strange = [a for a in sys.argv[1:] if not a.startswith(KNOWN_FLAGS)]
    if strange:  # never drop and regenerate the database because of a typo
        raise SystemExit(f"unknown option {' '.join(strange)}; see --help")
    scale = common.scale_name()
    keep = "--keep-data" in sys.argv
    only = next((a.split("=", 1)[1].split(",") for a in sys.argv[1:] if a.startswith("--only=")), BENCHES)
    skip = next((a.split("=", 1)[1].split(",") for a in sys.argv[1:] if a.startswith("--skip=")), [])
    unknown = [name for name in only + skip if name not in BENCHES + OPTIONAL]
    if unknown:
        raise SystemExit(f"unknown bench {', '.join(unknown)}; one of {', '.join(BENCHES + OPTIONAL)}")
    only = [name for name in only if name not in skip]
    t0 = time.time()
    meta_path = common.VAR_DIR / "gen_meta.json"
    fresh = not keep or not meta_path.exists() or json.loads(meta_path.read_text()).get("scale") != scale
    failures = []
    if fresh:
        print(f"=== recreating {common.DB_NAME} and generating {scale} data ===", flush=True)
        recreate_database()
        if run(["manage.py", "migrate", "--noinput", "--verbosity", "0"]) != 0:
            return 1
        meta_path.unlink(missing_ok=True)
        if run(["benchmarks/gen_data.py", f"--scale={scale}"]) != 0:
            return 1
    for name in only:
        passed = [a for a in sys.argv[1:] if a.startswith(PASS_ON)]
        if run([f"benchmarks/bench_{name}.py", f"--scale={scale}", *passed]) != 0:
            failures.append(name)

    rows = []
    print(f"\n=== MolExp benchmarks, scale {scale}: {common.scale()['runs']:,} runs, "
          f"{common.scale()['assets']:,} assets ===")  # fmt: skip
    m = common.machine()
    print(f"machine: {m.get('nproc')} CPU ({m.get('cpu', '?')}), {m.get('mem_total_gib')} GiB, "
          f"{m.get('postgres', '')}, {m.get('redis', '')}, Python {m['python']}")  # fmt: skip
    print(common.header())
    for name in ["gen_data", *only]:
        path = common.RESULTS_DIR / f"{name}-{scale}.json"
        if not path.exists():
            continue
        body = json.loads(path.read_text())
        for row in body["rows"]:
            rows.append({"bench": name, **row})
            print(common.format_row(row))
    compared = [r for r in rows if "mlflow_p50" in r]
    if compared:
        print("\n" + common.compare_header())
        for row in compared:
            print(common.format_compare_row(row))
    missed = [r["what"] for r in rows if r.get("ok") is False]
    summary = {"scale": scale, "machine": m, "seconds": round(time.time() - t0, 1), "rows": rows,
               "missed": missed, "failed_scripts": failures}  # fmt: skip
    (common.RESULTS_DIR / f"summary-{scale}.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\n{len(rows)} figures, {len(missed)} targets missed, {len(failures)} scripts failed"
          f"{' (' + ', '.join(failures) + ')' if failures else ''}; {summary['seconds']} s; "
          f"JSON in {common.RESULTS_DIR}")  # fmt: skip
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
