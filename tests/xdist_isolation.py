"""Each pytest-xdist worker gets a var/ folder and a broker of its own (``make test`` runs ``-n``).

Loaded with ``-p tests.xdist_isolation`` (pyproject's addopts), so it runs before pytest-django
reads the settings. A worker ``gwN`` then uses ``$MOLEXP_VAR_DIR/gwN`` (its SQLite test database,
the filesystem broker's folders, media, the Prometheus files) and, when the broker is Redis,
database number ``db - N``: the celery processes a test starts consume only their own worker's
tasks, and a queue purge in one worker never drops another's messages. PostgreSQL test databases
are kept apart by pytest-django itself (``test_<name>_gwN``). Without xdist nothing changes.
"""

from __future__ import annotations

import os


def _isolate(worker: str) -> None:
    number = int(worker.removeprefix("gw"))
    var_dir = os.environ.get("MOLEXP_VAR_DIR")
    if var_dir:
        os.environ["MOLEXP_VAR_DIR"] = os.path.join(var_dir, worker)
        # The controller's settings set the metrics folder before the workers started: theirs is their own.
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").startswith(var_dir):
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(var_dir, worker, "prometheus")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if broker.startswith("redis://"):
        base, _, db = broker.rpartition("/")
        if not db.isdigit() or int(db) < number:
            raise RuntimeError(f"xdist worker {worker} needs a Redis database number ≥ {number} in {broker!r}")
        os.environ["CELERY_BROKER_URL"] = f"{base}/{int(db) - number}"


_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and _WORKER[2:].isdigit():
    _isolate(_WORKER)
