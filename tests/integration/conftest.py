"""A real ``celery worker`` subprocess sharing the test's database and broker.

The worker gets the database the test uses (the SQLite test file, or the
PostgreSQL test database) through ``DATABASE_URL``, the same broker (the
``filesystem://`` folders under ``MOLEXP_VAR_DIR``, or the same Redis URL), and
whatever extra environment a test asks for. Queues are purged before it starts
so messages left by an earlier, interrupted run cannot reach it. At teardown
the worker's whole process group is stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from molexp_site.celery import app

READY_TIMEOUT = 60
QUEUES = ("runs", "default")


def database_url_of_test_db() -> str:
    """A DATABASE_URL naming the database this test process is connected to."""
    cfg = connection.settings_dict
    if connection.vendor == "sqlite":
        return "sqlite:///" + str(Path(cfg["NAME"]).resolve())
    if connection.vendor == "postgresql":
        auth = quote(cfg["USER"] or "", safe="")
        if cfg["PASSWORD"]:
            auth += ":" + quote(cfg["PASSWORD"], safe="")
        host = cfg["HOST"] or "127.0.0.1"
        port = f":{cfg['PORT']}" if cfg["PORT"] else ""
        return f"postgres://{auth}@{host}{port}/{quote(cfg['NAME'], safe='')}"
    raise RuntimeError(f"no worker set-up for database vendor {connection.vendor!r}")


def purge_queues(*queues: str) -> int:
    """Drop every message waiting in ``queues`` on the test broker; returns how many."""
    dropped = 0
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in queues:
            try:
                dropped += channel.queue_purge(queue) or 0
            except Exception as exc:  # a queue that was never declared has nothing to purge
                if "not found" not in str(exc).lower() and "no such" not in str(exc).lower():
                    raise
    return dropped


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen, log_path: Path, hostname: str) -> None:
        self.proc = proc
        self.log_path = log_path
        self.hostname = hostname

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self, *, graceful: bool = False) -> None:
        """Stop the worker: a cold shutdown (SIGQUIT) at teardown, where nothing is left to finish,
        or a warm one (SIGTERM) when a test needs running tasks to complete."""
        if self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM if graceful else signal.SIGQUIT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # The solo pool has no children, but make sure nothing of the group outlives the test.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def celery_worker(tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start a worker: ``celery_worker(env={"MOLEXP_LOST_RETRIES": "0"}, queues="runs,default", hostname=None)``.

    Returns once the worker logged that it is ready; stops it at teardown.
    """
    started: list[WorkerProcess] = []

    def start(
        *, env: dict[str, str] | None = None, queues: str = ",".join(QUEUES), hostname: str | None = None
    ) -> WorkerProcess:
        purge_queues(*QUEUES)
        hostname = hostname or f"it-{uuid.uuid4().hex[:8]}@%h"
        log_path = tmp_path / f"worker-{len(started)}.log"
        worker_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "molexp_site.settings",
            "MOLEXP_VAR_DIR": str(settings.VAR_DIR),
            "DATABASE_URL": database_url_of_test_db(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "molexp_site",
            "worker",
            "-Q",
            queues,
            "--pool",
            "solo",
            "-l",
            "info",
            "-n",
            hostname,
            "--without-gossip",
            "--without-mingle",
        ]
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                cmd,
                cwd=settings.BASE_DIR,
                env=worker_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed whole at teardown
            )
        worker = WorkerProcess(proc, log_path, hostname)
        started.append(worker)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"celery worker exited with {proc.returncode}:\n{worker.log_tail()}")
            if " ready." in worker.log():
                return worker
            time.sleep(0.2)
        pytest.fail(f"celery worker not ready after {READY_TIMEOUT} s:\n{worker.log_tail()}")

    yield start
    for worker in started:
        worker.stop()


def wait_until(condition: Callable[[], bool], *, timeout: float = 30, interval: float = 0.2) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
