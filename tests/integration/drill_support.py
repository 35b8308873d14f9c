"""Helpers for the fault drills: a private Redis, a cuttable TCP proxy, a light workflow.

The drills break infrastructure on purpose, so they never touch the shared
servers other suites use: Redis drills start their own ``redis-server`` on a
free loopback port (no persistence, so a restart comes back empty), and the
PostgreSQL drill puts a TCP proxy between the worker and the shared server and
cuts the proxy instead of the server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from django.db import connection
from kombu import pools as kombu_pools

from molexp_site.celery import app

DRILL_WORKFLOW = """
import time

from runs_app.workflow import Workflow

workflow = Workflow("drill")


@workflow.task
def prepare(ctx, i: int = 0):
    ctx.artifact.save("input.json", {"i": i})
    ctx.log("drill").append(f"prepare {i}")
    ctx.log_metric("i", i, step=0)
    return i


@workflow.task(depends_on=["prepare"])
def work(ctx, prepare, sleep: float = 0.0, blob_kb: int = 0):
    log = ctx.log("drill")
    deadline = time.time() + sleep
    step = 0
    while time.time() < deadline:
        step += 1
        log.append(f"working {step}")
        ctx.log_metric("progress", step, step=step)
        if blob_kb:
            ctx.artifact.save("chunk.bin", bytes([step % 256]) * (blob_kb * 1024))
        time.sleep(0.05)
    return prepare * 2


@workflow.task(depends_on=["work"])
def finish(ctx, work):
    ctx.set_result("double", work)
    ctx.artifact.save("result.txt", f"double={work}")
    return work
"""

DRILL_MOLCFG = """
version: 1
defaults: {}
profiles:
  default: {}
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def on_postgres_and_redis() -> bool:
    from django.conf import settings

    return connection.vendor == "postgresql" and settings.CELERY_BROKER_URL.startswith("redis://")


def require_postgres_and_redis() -> None:
    if not on_postgres_and_redis():
        pytest.skip("drill needs PostgreSQL + Redis (DATABASE_URL=postgres://…, CELERY_BROKER_URL=redis://…)")


# --- a private Redis ------------------------------------------------------------------


class PrivateRedis:
    """A ``redis-server`` of our own, without persistence: killed, it comes back empty."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10) -> None:
        self.starts += 1
        log = open(self.workdir / f"redis-{self.starts}.log", "wb")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
            + ["--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} not answering after {timeout} s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: everything it held is gone."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def restart_empty(self) -> None:
        self.kill()
        self.start()


@contextmanager
def broker_pointed_at(url: str, settings) -> Iterator[None]:
    """This test process publishes (dispatch, maintenance, purge) to ``url``; the worker fixture follows.

    ``settings`` is pytest-django's fixture (restored by it); the Celery app's
    configuration and its connection and producer pools are restored here.
    """
    saved = app.conf.broker_url
    saved_env = os.environ.get("CELERY_BROKER_URL")

    def reset_pools() -> None:
        # kombu keeps process-wide pools keyed by URL; closing one without clearing
        # the registry would hand the closed pool back ("Acquire on closed pool").
        kombu_pools.reset()
        app._pool = None
        with suppress(AttributeError, KeyError):
            app.__dict__["amqp"]._producer_pool = None

    settings.CELERY_BROKER_URL = url
    app.conf.broker_url = url
    # Celery's conf.broker_url prefers the CELERY_BROKER_URL environment variable.
    os.environ["CELERY_BROKER_URL"] = url
    reset_pools()
    try:
        yield
    finally:
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        app.conf.broker_url = saved
        reset_pools()


# --- a TCP proxy that can be cut ------------------------------------------------------


class TcpProxy:
    """Forwards a loopback port to ``target``; ``cut()`` emulates the server restarting.

    While cut, every open connection is closed and new ones are closed as soon
    as they are accepted, which a client sees exactly like a server that went away.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._listener.settimeout(0.2)
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.accepted = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._accept_loop, name="drill-proxy", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self.accepted += 1
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src, dst)

    def _drop(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._sockets.discard(sock)
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        """Close every connection through the proxy and refuse new ones until ``restore()``."""
        self._cut.set()
        with self._lock:
            open_now = list(self._sockets)
        self._drop(*open_now)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        with suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=5)


# --- shared drill steps ---------------------------------------------------------------


def drill_experiment(*, project, editor, settings, tmp_path):
    """An experiment whose workflow is ``DRILL_WORKFLOW`` (prepare → work → finish)."""
    from runs_app.services import experiment_create

    wf = tmp_path / "workflows"
    wf.mkdir(exist_ok=True)
    (wf / "drill.py").write_text(DRILL_WORKFLOW)
    (wf / "molcfg.yaml").write_text(DRILL_MOLCFG)
    settings.MOLEXP_WORKFLOW_DIRS = [str(wf)]
    return experiment_create(user=editor, project=project, name="Drill", workflow_source="drill.py")


def worker_env(**extra: str) -> dict[str, str]:
    from django.conf import settings

    return {
        "MOLEXP_WORKFLOW_DIRS": os.pathsep.join(settings.MOLEXP_WORKFLOW_DIRS),
        "MOLEXP_HEARTBEAT_SECONDS": "1",
        "MOLEXP_LOST_AFTER_SECONDS": "10",
        "MOLEXP_REDISPATCH_AFTER_SECONDS": "2",
        **extra,
    }


def send_maintenance() -> bool:
    """Publish ``runs.maintenance`` as beat would; False when the broker refused it (it is down)."""
    try:
        app.send_task("runs.maintenance", queue="default", retry=False)
    except Exception:
        return False
    return True


def maintain_until(condition, *, timeout: float, every: float = 1.0, on_tick=None) -> bool:
    """Send ``runs.maintenance`` every ``every`` seconds until ``condition()`` holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    next_send = 0.0
    while True:
        if on_tick is not None:
            on_tick()
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        if time.monotonic() >= next_send:
            send_maintenance()
            next_send = time.monotonic() + every
        time.sleep(0.2)


def redis_queue_length(url: str, queue: str = "runs") -> int:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def executions_run_once(run_ids: list[int]) -> dict[str, list[int]]:
    """Runs breaking "executed exactly once": grouped by what is wrong (empty lists when all is well)."""
    from django.db.models import Count, Q

    from runs_app.models import Run

    rows = Run.objects.filter(pk__in=run_ids).annotate(
        n_exec=Count("executions", distinct=True),
        n_running=Count("events", filter=Q(events__subject="run", events__to_status="running"), distinct=True),
        n_exec_running=Count(
            "events", filter=Q(events__subject="execution", events__to_status="running"), distinct=True
        ),
        n_tasks=Count("executions__task_executions", distinct=True),
    )
    problems: dict[str, list[int]] = {"not_succeeded": [], "executions": [], "running_events": [], "tasks": []}
    for run in rows:
        if run.status != "succeeded":
            problems["not_succeeded"].append(run.pk)
        if run.n_exec != 1:
            problems["executions"].append(run.pk)
        if run.n_running != 1 or run.n_exec_running != 1:
            problems["running_events"].append(run.pk)
        if run.n_tasks != 3:
            problems["tasks"].append(run.pk)
    missing = set(run_ids) - {r.pk for r in rows}
    problems["not_succeeded"].extend(sorted(missing))
    return problems


def no_problems(problems: dict[str, list[int]]) -> bool:
    return not any(problems.values())
