"""``make run``'s process supervisor: honcho (the Procfile runner), stopping each process the way it stops cleanly.

``python -m molexp_site.supervise start -f Procfile -p PORT`` takes honcho's arguments.
honcho 2.0 on Ctrl-C or SIGTERM sends SIGTERM to every process *group* and SIGKILL
5 s after the first of them has exited. Both hurt Celery: its warm shutdown needs longer than 5 s (measured 6–8 s
on an idle worker with the filesystem broker: the consumer's 2 s poll, then the pool's
and the timer's 1 s waits), and the group's SIGTERM kills the prefork pool's children
under the main process, which then logs them as lost. So, here:

1. Ctrl-C / SIGTERM: SIGTERM to each Procfile process itself (the Procfile ``exec``s
   each program, so that is gunicorn's master, Celery's main process, beat). They shut
   down warm and stop their own children; nothing else is signalled.
2. Still running ``MOLEXP_STOP_GRACE`` seconds after the signal (default 30: a task still
   running in a warm shutdown): SIGQUIT to the process group, Celery's cold shutdown
   (running executions are cut short and later reaped as ``lost`` and retried by policy).
3. Still running ``KILL_AFTER_QUIT`` seconds later: SIGKILL (announced, as honcho does).

``tests/integration/test_make_run_stops.py`` runs ``make run`` and checks that Ctrl-C and
SIGTERM end every process in step 1, and steps 2 and 3 with processes that ignore signals.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
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
    """honcho's manager whose stop escalates on its own clock, counted from the signal.

    honcho starts its SIGKILL countdown only once some process has exited, so a process
    that ignores SIGTERM while all others do too would be waited for forever; here a
    timer started with the first terminate drives steps 2 and 3, and honcho's own
    ``kill`` (its countdown) does nothing.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._procmgr = _ToTheProcess()

    def terminate(self) -> None:
        first = not self._terminating
        super().terminate()
        if first:
            threading.Thread(target=self._escalate, name="stop-escalation", daemon=True).start()

    def kill(self) -> None:
        """honcho's countdown from the first exit: the escalation thread decides instead."""

    def _escalate(self) -> None:
        grace = float(os.environ.get("MOLEXP_STOP_GRACE", "30"))
        for wait, signame, send in (
            (grace, "SIGQUIT", self._procmgr.quit),
            (KILL_AFTER_QUIT, "SIGKILL", self._procmgr.kill),
        ):
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not self._running():
                    return
                time.sleep(0.1)
            for name, pid in self._running():
                self._system_print(f"sending {signame} to {name} (pid {pid})\n")
                send(pid)

    def _running(self) -> list[tuple[str, int]]:
        return [(name, proc["pid"]) for name, proc in list(self._processes.items()) if "returncode" not in proc]


def _clear_inherited_signal_state() -> None:
    """Start the Procfile processes with no signal blocked and SIGQUIT at its default action.

    A signal mask survives ``exec``, and so does an ignored signal: a supervisor started from a
    thread that blocks signals (a test runner's, a library's) or as a background job of a script
    (which ignores SIGINT and SIGQUIT) would hand that on to every process, and step 2's SIGQUIT
    would never arrive (a process that ignores SIGTERM then lived until SIGKILL). honcho installs
    its SIGINT/SIGTERM handlers after this."""
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def main() -> None:
    _clear_inherited_signal_state()
    command.Manager = SupervisedManager
    sys.argv[0] = "honcho"
    command.main()


if __name__ == "__main__":
    main()
