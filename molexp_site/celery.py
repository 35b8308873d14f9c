"""The Celery application, configured from Django settings (``CELERY_`` namespace)."""

import os
import signal
import sys
import threading
import time

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "molexp_site.settings")

app = Celery("molexp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _exit_with_parent(**_kwargs) -> None:
    """Under ``make run`` (``MOLEXP_EXIT_WITH_PARENT=1``) a worker or beat stops when its supervisor dies.

    honcho starts each process in a session of its own; if honcho itself is killed
    hard, nothing would stop them. The kernel sends SIGTERM (Celery's warm shutdown)
    when the parent goes away (Linux ``PR_SET_PDEATHSIG``), and a watchdog thread
    kills the process ``MOLEXP_EXIT_WITH_PARENT_GRACE`` seconds (default 15) after it
    was orphaned, in case the warm shutdown hangs (seen with a prefork pool whose
    children the supervisor had already terminated).
    """
    if os.environ.get("MOLEXP_EXIT_WITH_PARENT") != "1" or not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    grace = float(os.environ.get("MOLEXP_EXIT_WITH_PARENT_GRACE", "15"))
    threading.Thread(target=_watch_parent, args=(parent, grace), name="exit-with-parent", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the call above: nobody is left to wait for us
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_parent(parent: int, grace: float) -> None:
    orphaned_at = None
    while True:
        time.sleep(0.5)
        if os.getppid() == parent:
            continue
        orphaned_at = orphaned_at or time.monotonic()
        if time.monotonic() - orphaned_at >= grace:
            os.kill(os.getpid(), signal.SIGKILL)
