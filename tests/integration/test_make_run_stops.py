"""``make run`` answers /healthz and /metrics, and Ctrl-C or SIGTERM stops every process it started (issue 17).

The real ``make run`` of a new user (what ``../shared/tools/newcomer-run`` does), on a free
port and a temporary var/: migrate, seed, then web + two workers + beat under
``molexp_site.supervise``. Once /healthz is 200 (database, broker, storage, a maintenance
run sent by beat and workers' heartbeats), the test signals the process group as a
terminal's Ctrl-C does (SIGINT) or as ``kill -TERM -- -PGID`` does (SIGTERM), and asserts
that every process of the tree — including gunicorn's workers and Celery's pool children,
which run in sessions of their own — is gone within ``STOP_LIMIT`` seconds, that each
Procfile process exited 0 (a warm shutdown) and that nobody needed SIGQUIT or SIGKILL.

Runs once, in the embedded pass: ``make run`` is the embedded stack (SQLite and the
filesystem broker) whatever the pass, so the PostgreSQL pass would repeat the same ~50 s.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")), reason="make run is the embedded stack: once, in the embedded pass"
    ),
]

START_LIMIT = 240  # first start: migrate a new SQLite database, collectstatic, seed the demo
STOP_LIMIT = 15
PROCFILE_PROCESSES = ("web.1", "worker.1", "maintenance.1", "beat.1")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(root: int) -> dict[int, str]:
    """Every process below ``root`` (whatever its session), with its start time to rule out pid reuse."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = {}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = _start_time(child)
            todo.append(child)
    return found


def _start_time(pid: int) -> str:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return "" if fields[0] == "Z" else fields[19]  # a zombie has exited: only its parent's wait() is left


def _alive(processes: dict[int, str]) -> dict[int, str]:
    alive = {}
    for pid, started in processes.items():
        if _start_time(pid) == started != "":
            try:
                alive[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
            except OSError:
                continue
    return alive


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a local http:// URL
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory) -> Path:
    """One var/ for both cases: the second start finds the database migrated and the demo seeded."""
    return tmp_path_factory.mktemp("make-run") / "var"


@pytest.mark.parametrize(
    ("target", "sig"),
    # The second case reuses the var/ the first one prepared, through `make serve` (the same
    # supervisor command as `make run`, without migrate, collectstatic and seeding: ~20 s less).
    [("run", signal.SIGINT), ("serve", signal.SIGTERM)],
    ids=["run-ctrl-c", "serve-sigterm"],
)
def test_make_run_serves_health_and_metrics_and_stops_cleanly(var_dir, tmp_path, target, sig):
    if not (var_dir / "db.sqlite3").exists():  # the case runs alone: nothing prepared the var/
        target = "run"
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAKE", "MFLAGS"))}
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "MOLEXP_CACHE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(key, None)
    env.update(PORT=str(port), MOLEXP_VAR_DIR=str(var_dir), MOLEXP_MAINTENANCE_INTERVAL="2", PYTHONUNBUFFERED="1")
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        make = subprocess.Popen(
            # -o: never reinstall the requirements here (the suite's environment is the installed one).
            ["make", "--no-print-directory", "-o", ".venv/.installed-runtime", target],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a process group of its own, like a terminal's foreground job
        )
    processes: dict[int, str] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_LIMIT
        status, body = 0, b""
        while time.monotonic() < deadline and make.poll() is None:
            try:
                status, body = _get(f"{base}/healthz")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(1)
        tail = log_path.read_text(errors="replace")[-3000:]
        assert status == 200, f"/healthz never answered 200 (last {status}: {body[:500]!r})\n{tail}"
        health = json.loads(body)
        assert health["status"] == "ok" and all(check == {"ok": True} for check in health["checks"].values())
        assert set(health["checks"]) == {"database", "broker", "storage", "beat", "workers"}
        status, metrics = _get(f"{base}/metrics")
        assert status == 200, metrics[:500]
        for name in (b"molexp_runs{", b"molexp_queue_messages{", b"molexp_workers_alive", b"molexp_upload_bytes_total",
                     b"molexp_http_request_duration_seconds_bucket{", b"molexp_executions_lost_total"):  # fmt: skip
            assert name in metrics, name

        processes = _descendants(make.pid)
        names = " ".join(_alive(processes).values())
        assert "gunicorn" in names and "beat" in names and names.count("celery") >= 3, names
        started = time.monotonic()
        os.killpg(make.pid, sig)
        while _alive(processes) and time.monotonic() - started < STOP_LIMIT:
            time.sleep(0.2)
        left = _alive(processes)
        took = time.monotonic() - started
        make.wait(timeout=10)
        output = log_path.read_text(errors="replace")
        assert not left, f"still running {took:.1f} s after {sig.name}: {left}\n{output[-3000:]}"
        # from honcho's own line: a Celery worker also logs "Task … received" while stopping
        stopping = output[output.rindex(f"| {sig.name} received") :]
        assert "SIGKILL" not in stopping and "SIGQUIT" not in stopping, stopping
        for name in PROCFILE_PROCESSES:
            assert f"{name} stopped (rc=0)" in stopping, f"{name} did not shut down warm:\n{stopping}"
        assert "exited with 'signal" not in stopping, stopping  # no pool child was killed under its worker
    finally:
        for pid in _alive(processes):  # only after a failure: nothing may outlive the test
            os.kill(pid, signal.SIGKILL)
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=10)


def _block_sigquit() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGQUIT})
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


@pytest.mark.parametrize("inherited", ["clean", "sigquit-blocked-and-ignored"])
def test_the_supervisor_escalates_to_a_cold_shutdown_then_sigkill(tmp_path, inherited):
    """A process that ignores SIGTERM gets SIGQUIT after ``MOLEXP_STOP_GRACE``; one ignoring both, SIGKILL 10 s later.

    Also when the supervisor itself starts with SIGQUIT blocked and ignored (a mask and an ignored
    signal survive ``exec``: a test runner's thread, a script's background job): it clears both for
    its processes (seen in CI: an xdist worker's blocked SIGQUIT reached "stubborn", which then
    lived until SIGKILL)."""
    ignore = "import signal, time; {}; print('armed', flush=True); time.sleep(600)"
    stubborn = ignore.format("signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    deaf = ignore.format("signal.signal(signal.SIGTERM, signal.SIG_IGN); signal.signal(signal.SIGQUIT, signal.SIG_IGN)")
    python = Path(os.sys.executable)
    (tmp_path / "Procfile").write_text(f'stubborn: exec {python} -c "{stubborn}"\ndeaf: exec {python} -c "{deaf}"\n')
    env = {**os.environ, "MOLEXP_STOP_GRACE": "1", "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "supervise.log"
    with open(log_path, "wb") as log:
        supervisor = subprocess.Popen(
            [python, "-m", "molexp_site.supervise", "start", "-f", str(tmp_path / "Procfile"), "-d", str(tmp_path)],
            cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_block_sigquit if inherited != "clean" else None,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while log_path.read_text().count("armed") < 2:
            assert time.monotonic() < deadline and supervisor.poll() is None, log_path.read_text()
            time.sleep(0.1)
        processes = _descendants(supervisor.pid)
        started = time.monotonic()
        os.killpg(supervisor.pid, signal.SIGINT)
        supervisor.wait(timeout=30)
        took = time.monotonic() - started
        output = log_path.read_text()
        assert not _alive(processes), output
        assert "sending SIGQUIT to stubborn.1" in output and "sending SIGQUIT to deaf.1" in output, output
        assert "stubborn.1 stopped (rc=-3)" in output, output  # SIGQUIT ended it
        assert "sending SIGKILL to deaf.1" in output and "sending SIGKILL to stubborn.1" not in output, output
        assert 11 <= took < 25, took  # 1 s grace, then 10 s of cold shutdown before SIGKILL
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
