"""gunicorn settings MolExp's web process uses (``gunicorn -c python:molexp_site.gunicorn_conf``).

Only the hooks live here; binding, workers and threads stay on the command line
(Procfile, docs/operations.md). prometheus_client's multiprocess mode keeps one file
per web process and metric type in ``PROMETHEUS_MULTIPROC_DIR``; the files of an
earlier start are removed when the master starts, before any worker writes, so a
restart begins from empty counters (Prometheus reads that as a counter reset) and
the folder does not grow with every restart.
"""

from __future__ import annotations

import os
from pathlib import Path


def on_starting(server) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "molexp_site.settings")
    from django.conf import settings  # sets PROMETHEUS_MULTIPROC_DIR for the workers the master forks

    folder = Path(settings.MOLEXP_METRICS_DIR)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server, worker) -> None:
    """A dead worker's live gauges must not be summed any more (prometheus_client's rule)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
