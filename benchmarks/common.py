"""Shared set-up of the MolExp benchmarks: scale, environment, timing, the result table and JSON.

Every script imports this module FIRST: ``setup()`` points Django at the bench
database (``molexp_bench`` on the local PostgreSQL), Redis db 9 and a private
``var/bench`` folder before ``django.setup()``. Nothing here is used by the
application or its tests.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_DB_NAME", "molexp_bench")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9")
VAR_DIR = Path(os.environ.get("BENCH_VAR_DIR", str(BASE_DIR / "var" / "bench")))
# Outside VAR_DIR: the server refuses a workflow folder inside its data folders (system check molexp.E001).
WORKFLOW_DIR = Path(os.environ.get("BENCH_WORKFLOW_DIR", str(BASE_DIR / "var" / "bench-workflows")))

#: Sizes per scale. ``reduced`` is what ``make bench`` runs in a few minutes; ``small`` is only the
#: first point of the cost curve (``bench_scaling.py``).
SCALES = {
    "small": {
        "runs": 1_000,
        "assets": 10_000,
        "workspaces": 2,
        "projects_per_ws": 5,
        "experiments_per_project": 10,
        "big_experiment_share": 0.2,
        "metric_keys": 2,
        "metric_steps": 5,
        "search_repeat": 30,
        "list_repeat": 30,
        "latency_runs": 40,
        "sustained_runs": 300,
        "sweep_cells": 1000,
        "upload_mib": 64,
        "upload_chunk_mib": 32,
    },
    "reduced": {
        "runs": 10_000,
        "assets": 100_000,
        "workspaces": 4,
        "projects_per_ws": 5,
        "experiments_per_project": 10,
        "big_experiment_share": 0.2,  # one experiment holds this share of the runs (deep pages)
        "metric_keys": 2,
        "metric_steps": 5,
        "search_repeat": 30,
        "list_repeat": 30,
        "latency_runs": 40,
        "sustained_runs": 300,
        "sweep_cells": 1000,
        "upload_mib": 256,
        "upload_chunk_mib": 32,
    },
    "full": {
        "runs": 100_000,
        "assets": 1_000_000,
        "workspaces": 8,
        "projects_per_ws": 10,
        "experiments_per_project": 20,
        "big_experiment_share": 0.2,
        "metric_keys": 2,
        "metric_steps": 5,
        "search_repeat": 50,
        "list_repeat": 50,
        "latency_runs": 100,
        "sustained_runs": 300,
        "sweep_cells": 1000,
        "upload_mib": 2048,
        "upload_chunk_mib": 64,
    },
    # 10 M assets (issue 17): the catalog at the next scale. Runs stay at 500 000 (20 assets a run):
    # gen_data keeps the runs, executions, events and metric points in memory before COPY (about
    # 2–3 GiB here), the assets are streamed. Measured idle on 2026-12-07: 24 GB of PostgreSQL data,
    # 25 min to generate (13 of them the deferred foreign-key checks that gen_data now skips;
    # docs/performance.md). Check `df -h`.
    "huge": {
        "runs": 500_000,
        "assets": 10_000_000,
        "workspaces": 8,
        "projects_per_ws": 20,
        "experiments_per_project": 20,
        "big_experiment_share": 0.04,
        "metric_keys": 2,
        "metric_steps": 5,
        "search_repeat": 30,
        "list_repeat": 30,
        "latency_runs": 100,
        "sustained_runs": 300,
        "sweep_cells": 1000,
        "upload_mib": 2048,
        "upload_chunk_mib": 64,
    },
}

BENCH_USER = "bench"


def scale_name() -> str:
    name = os.environ.get("SCALE") or os.environ.get("BENCH_SCALE") or "reduced"
    for arg in sys.argv[1:]:
        if arg.startswith("--scale="):
            name = arg.split("=", 1)[1]
    if name not in SCALES:
        raise SystemExit(f"unknown scale {name!r}; one of {', '.join(SCALES)}")
    return name


def scale() -> dict:
    return SCALES[scale_name()]


def bench_env(**extra: str) -> dict[str, str]:
    """The environment a bench process (script, worker, gunicorn) runs with."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "molexp_site.settings",
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "MOLEXP_VAR_DIR": str(VAR_DIR),
        "MOLEXP_WORKFLOW_DIRS": str(WORKFLOW_DIR),
        "DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


_READY = False


def setup() -> None:
    """Configure the environment for the bench database and broker, then ``django.setup()``."""
    global _READY
    if _READY:
        return
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    WORKFLOW_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.update({k: v for k, v in bench_env().items() if k not in os.environ or k in _OVERRIDE})
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collected static here
    django.setup()
    _READY = True


_OVERRIDE = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "MOLEXP_VAR_DIR", "MOLEXP_WORKFLOW_DIRS"}


# --- timing -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def timed(fn, repeat: int, warmup: int = 2) -> list[float]:
    """Milliseconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


@contextmanager
def stopwatch():
    box = {}
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - t0


class Report:
    """Rows ``what | p50 | p95 | target | ok?`` printed and saved as ``results/<name>-<scale>.json``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.scale = scale_name()
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.started = time.time()

    def add(
        self, what: str, *, p50=None, p95=None, unit: str = "ms", target: str = "", ok: bool | None = None, **extra
    ) -> dict:
        row = {"what": what, "p50": p50, "p95": p95, "unit": unit, "target": target, "ok": ok, **extra}
        self.rows.append(row)
        print(format_row(row), flush=True)
        return row

    def latency(self, what: str, samples_ms: list[float], *, p50_max=None, p95_max=None, target=None, ok=None, **extra):
        p50, p95 = percentile(samples_ms, 50), percentile(samples_ms, 95)
        if ok is None and (p50_max is not None or p95_max is not None):
            ok = (p50_max is None or p50 <= p50_max) and (p95_max is None or p95 <= p95_max)
        if target is None:
            parts = []
            if p50_max is not None:
                parts.append(f"p50 ≤ {p50_max:g} ms")
            if p95_max is not None:
                parts.append(f"p95 ≤ {p95_max:g} ms")
            target = ", ".join(parts)
        return self.add(
            what,
            p50=round(p50, 2),
            p95=round(p95, 2),
            target=target,
            ok=ok,
            n=len(samples_ms),
            max=round(max(samples_ms), 2) if samples_ms else None,
            **extra,
        )

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def save(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.name}-{self.scale}.json"
        body = {
            "name": self.name,
            "scale": self.scale,
            "sizes": scale(),
            "machine": machine(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "seconds": round(time.time() - self.started, 1),
            "rows": self.rows,
            "notes": self.notes,
        }
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(body, indent=2, default=str) + "\n")
        os.replace(tmp, path)
        return path


def _fmt(value, unit: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {unit}".strip()


def format_row(row: dict) -> str:
    ok = {True: "ok", False: "MISS", None: "-"}[row.get("ok")]
    return (f"{row['what']:<58} | {_fmt(row.get('p50'), row.get('unit', '')):>14} | "
            f"{_fmt(row.get('p95'), row.get('unit', '')):>14} | {row.get('target', ''):<34} | {ok}")  # fmt: skip


def header() -> str:
    return f"{'what':<58} | {'p50 / value':>14} | {'p95':>14} | {'target':<34} | ok?"


def machine() -> dict:
    info = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]  # other jobs on the machine: noise
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            info["mem_total_gib"] = round(int(fh.readline().split()[1]) / 1024**2, 1)
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for key, cmd in (("postgres", ["psql", "--version"]), ("redis", ["redis-server", "--version"])):
        try:
            info[key] = subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        import celery
        import django

        info["django"] = django.get_version()
        info["celery"] = celery.__version__
    except ImportError:
        pass
    return info


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (``/proc/<pid>/status`` VmRSS)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# --- fixtures shared by the scripts -------------------------------------------------------


def bench_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=BENCH_USER)


def api_client():
    """A Django test ``Client`` signed in as the bench user (session auth; GETs need no CSRF)."""
    from django.test import Client

    client = Client()
    client.force_login(bench_user())
    return client


def wait_until(condition, *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --- side-by-side rows (bench_mlflow.py): MolExp figure, other figure, ratio ------------------------


def compare_header() -> str:
    return f"{'what':<62} | {'MolExp':>12} | {'MLflow':>12} | {'MolExp/MLflow':>13}"


def format_compare_row(row: dict) -> str:
    unit = row.get("unit", "")
    mine = _fmt(row.get("p50"), unit) if row.get("p50") is not None else row.get("molexp", "-")
    ratio = row.get("ratio")
    return (f"{row['what']:<62} | {mine:>12} | {_fmt(row.get('mlflow_p50'), unit):>12} | "
            f"{'-' if ratio is None else f'{ratio:.2f}':>13}")  # fmt: skip
