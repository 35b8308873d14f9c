"""Deleting into the trash from the runs side (SPEC §14): cancel what still runs, then ``trash_put``.

Invariants:
- One code path for pages and the API: ``object_delete`` checks the role first
  (``trash_delete_require``: owners; an editor their own run), then cancels every queued or
  running run the delete would hide (``control.run_cancel``: a queued run at once, a running one
  cooperatively, terminated after the grace period), then moves the object into the trash.
- Restore, purge and the expiry live with the trash rows in ``assets_app.services.trash``
  (a purge frees asset bytes); they are re-exported here for runs_app's adapters and the maintenance.
"""

from __future__ import annotations

from django.db import models

from assets_app.services import trash_delete_require, trash_expire, trash_purge, trash_put, trash_restore
from molexp_site.errors import Conflict, IllegalTransition

from ..models import Experiment, Project, Run, TrashEntry, Workspace
from ..policy import CANCELLABLE
from .control import run_cancel

__all__ = ["object_delete", "trash_expire", "trash_purge", "trash_restore"]

#: The key of ``Run`` naming each parent a delete may hide runs under.
_RUN_KEY = {Workspace: "workspace_id", Project: "project_id", Experiment: "experiment_id", Run: "pk"}


def _cancel_active(*, user, obj: models.Model) -> int:
    """Cancel the queued and running runs under ``obj`` (or ``obj`` itself, a run); returns how many."""
    key = _RUN_KEY.get(type(obj))
    if key is None:  # an asset
        return 0
    cancelled = 0
    active = Run.objects.filter(**{key: obj.pk}, status__in=CANCELLABLE).select_related("workspace")
    for run in active:
        try:
            run_cancel(user=user, run=run)
        except (Conflict, IllegalTransition):
            continue  # it ended meanwhile
        cancelled += 1
    return cancelled


def object_delete(*, user, obj: models.Model) -> TrashEntry:
    """Delete a workspace, project, experiment, run or asset into the trash; returns its ``TrashEntry``.

    ``obj`` comes from the caller's scoped lookup (outsiders had their 404). Raises
    ``PermissionDenied`` for a member without the right. Queued and running runs under it
    are cancelled before anything is hidden.
    """
    trash_delete_require(user=user, obj=obj)
    _cancel_active(user=user, obj=obj)
    return trash_put(user=user, obj=obj)
