"""The Celery application, configured from Django settings (``CELERY_`` namespace)."""

import os
import signal
import sys

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
    when the parent goes away (Linux ``PR_SET_PDEATHSIG``).
    """
    if os.environ.get("MOLEXP_EXIT_WITH_PARENT") != "1" or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the call above: nobody is left to wait for us
        os.kill(os.getpid(), signal.SIGTERM)
