"""The maintenance's part of logs: finalize the logs that no worker will finalize (SPEC §12).

Invariants:
- A log still being written is a folder of segments (``logs.log_open``); its
  worker joins and indexes it when the execution ends. A worker that was
  SIGKILLed, lost or terminated after a cancel never does: this sweep finalizes
  such logs (hashed, searchable) once no execution of their run runs and none
  beat for ``MOLEXP_LOST_AFTER_SECONDS``, the same silence that makes an
  execution ``lost``.
- Imported as ``assets_app.services.log_sweep`` (not re-exported by the package: it needs
  nothing from the rest of it and stays out of its import cycle).
- A retry that claims the run later reopens the finalized log (its bytes become
  the first segment of a new folder); a retry that claimed it meanwhile makes
  the sweep's conditional UPDATE change nothing, so no segment it writes is lost.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..choices import AssetKind
from ..models import Asset
from .logs import executions_alive, log_finalize

#: Logs finalized per maintenance pass (the next pass takes the rest).
SWEEP_BATCH = 200
#: The condition of the partial index ``asset_live_log`` as SQLite stores it (literal values).
LIVE_LOG_SQLITE = "\"file\" LIKE '%%/' ESCAPE '\\' AND \"kind\" = 'log'"


def _abandoned_logs(*, quiet_since):
    """Live logs (a folder of segments) of runs none of whose executions runs or beat since ``quiet_since``."""
    alive = executions_alive(since=quiet_since).filter(run_id=OuterRef("run_id"))
    # The partial index asset_live_log holds only logs still being written (file ends with "/").
    live = Asset.objects.filter(kind=AssetKind.LOG, file__endswith="/")
    if connection.vendor == "sqlite":
        # SQLite picks a partial index only when the query repeats its condition as literals
        # (Django binds the values above as parameters); PostgreSQL's planner needs no help.
        live = live.extra(where=[LIVE_LOG_SQLITE])  # noqa: S610 - a constant, no input
    return live.exclude(run_id=None).exclude(Exists(alive)).order_by("id")[:SWEEP_BATCH]


def log_finalize_abandoned(*, now=None) -> int:
    """Finalize live logs of runs whose executions all stopped; returns how many were finalized."""
    now = now or timezone.now()
    quiet_since = now - timedelta(seconds=settings.MOLEXP_LOST_AFTER_SECONDS)
    finalized = 0
    for asset in _abandoned_logs(quiet_since=quiet_since):
        if log_finalize(asset=asset.as_kind(), abandoned_before=quiet_since):
            finalized += 1
    return finalized
