"""``make run`` sets ``MOLEXP_EXIT_WITH_PARENT=1``: a worker whose supervisor is killed hard stops too.

honcho starts each Procfile process in a session of its own, so killing honcho's
process group leaves them running; the worker asks the kernel for SIGTERM when its
parent dies. Here a throw-away parent starts a real worker and is SIGKILLed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is gone for our purpose
        return fh.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="runs once, in the embedded pass (its worker uses its own var/)"
)
def test_worker_stops_when_its_parent_is_killed(tmp_path):
    parent_code = textwrap.dedent(
        """
        import os, subprocess, sys, time
        env = {**os.environ, "MOLEXP_EXIT_WITH_PARENT": "1"}
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "molexp_site", "worker", "-Q", "exit-with-parent-test",
             "--pool", "solo", "-l", "info"],
            env=env, stdout=open(sys.argv[1], "wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        print(worker.pid, flush=True)
        time.sleep(3600)
        """
    )
    log = tmp_path / "worker.log"
    env = {**os.environ, "MOLEXP_VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "molexp_site.settings"}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code, str(log)], cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
    )
    worker_pid = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 60
        while " ready." not in (log.read_text(errors="replace") if log.exists() else ""):
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.2)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 60
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker_pid), "the worker outlived its parent"
        assert "warm shutdown" in log.read_text(errors="replace").lower()
    finally:
        if _alive(worker_pid):
            os.killpg(worker_pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_process_stuck_in_shutdown_is_killed_after_the_grace(tmp_path):
    """The watchdog: a process that ignores SIGTERM (a hung warm shutdown) dies ``GRACE`` s after its parent."""
    child_code = textwrap.dedent(
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as if the warm shutdown hung
        from molexp_site.celery import _exit_with_parent
        _exit_with_parent()
        print("armed", flush=True)
        time.sleep(3600)
        """
    )
    parent_code = textwrap.dedent(
        """
        import os, subprocess, sys
        env = {**os.environ, "MOLEXP_EXIT_WITH_PARENT": "1", "MOLEXP_EXIT_WITH_PARENT_GRACE": "1"}
        child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env=env, stdout=subprocess.PIPE, text=True,
                                 start_new_session=True)
        assert child.stdout.readline().strip() == "armed"
        print(child.pid, flush=True)
        import time; time.sleep(3600)
        """
    )
    env = {**os.environ, "MOLEXP_VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "molexp_site.settings"}
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code, child_code], cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    child_pid = int(parent.stdout.readline())
    try:
        assert _alive(child_pid)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 20
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child_pid), "the orphaned process ignored SIGTERM and the watchdog did not kill it"
    finally:
        if _alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)
