"""``make run``'s process supervisor: honcho (the Procfile runner), stopping each process the way it stops cleanly.

``python -m molexp_site.supervise start -f Procfile -p PORT`` takes honcho's arguments.
honcho 2.0 on Ctrl-C or SIGTERM sends SIGTERM to every process *group* and SIGKILL
5 s later. Both hurt Celery: its warm shutdown needs longer than 5 s (measured 6–8 s
on an idle worker with the filesystem broker: the consumer's 2 s poll, then the pool's
and the timer's 1 s waits), and the group's SIGTERM kills the prefork pool's children
under the main process, which then logs them as lost. So, here:

1. Ctrl-C / SIGTERM: SIGTERM to each Procfile process itself (the Procfile ``exec``s
   each program, so that is gunicorn's master, Celery's main process, beat). They shut
   down warm and stop their own children; nothing else is signalled.
2. Still running after ``MOLEXP_STOP_GRACE`` seconds (default 30: a task still running
   in a warm shutdown): SIGQUIT to the process group, Celery's cold shutdown (running
   executions are cut short and later reaped as ``lost`` and retried by policy).
3. Still running ``KILL_AFTER_QUIT`` seconds later: SIGKILL (announced, as honcho does).

``tests/integration/test_make_run_stops.py`` runs ``make run`` and checks that Ctrl-C and
SIGTERM end every process in step 1.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time

from honcho import command, manager
from honcho.compat import ProcessManager

KILL_AFTER_QUIT = 10.0


def _send(send, pid: int, sig: int) -> None:
    try:
        send(pid, sig)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ESRCH):
            raise


class _ToTheProcess(ProcessManager):
    """SIGTERM goes to the process, not its group: its own children are its business."""

    def terminate(self, pid: int) -> None:
        _send(os.kill, pid, signal.SIGTERM)

    def quit(self, pid: int) -> None:
        _send(os.killpg, pid, signal.SIGQUIT)


class SupervisedManager(manager.Manager):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._procmgr = _ToTheProcess()
        self._quit_at: float | None = None
        self._killed = False

    def kill(self) -> None:
        """honcho calls this on every turn of its loop once the grace (``KILL_WAIT``) has passed."""
        if self._quit_at is None:
            self._quit_at = time.monotonic()
            for name, proc in self._processes.items():
                if "returncode" not in proc:
                    self._system_print(f"sending SIGQUIT to {name} (pid {proc['pid']}): cold shutdown\n")
                    self._procmgr.quit(proc["pid"])
        elif not self._killed and time.monotonic() - self._quit_at > KILL_AFTER_QUIT:
            self._killed = True
            super().kill()


def main() -> None:
    manager.KILL_WAIT = float(os.environ.get("MOLEXP_STOP_GRACE", "30"))
    command.Manager = SupervisedManager
    sys.argv[0] = "honcho"
    command.main()


if __name__ == "__main__":
    main()
