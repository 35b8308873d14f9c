"""The trash (SPEC §14): one ``TrashEntry`` per delete, and the manager that hides what it holds.

Imported by ``runs_app.models`` (and ``assets_app.models``); it names other models only by
string, so it imports no model module.

Invariants (docs/lifecycle.md, "Delete and trash"):
- A trashable row (workspace, project, experiment, run, asset) is in the trash when its
  ``trash`` key is set. A delete writes the new entry's id into the deleted row *and* into
  every live row under it (a project's experiments, runs and assets), so a row's own
  column answers "is it hidden": no join, every list stays an index range scan.
- ``objects`` (the default manager, hence every related manager: ``experiment.runs``,
  ``run.assets``) returns live rows only; ``all_objects`` returns every row and is used only
  by the trash itself, by uniqueness checks (slugs, version numbers) and by the garbage
  collector's "who references these bytes" (bytes of a row in the trash are never freed).
- Restoring an entry clears exactly the rows that carry its id: rows deleted earlier by
  another entry stay in the trash.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


def trash_index(prefix: str) -> models.Index:
    """The index of a ``trash`` key: only the rows in the trash (restore and purge find them by entry).

    Partial on purpose: a full index on a column that is NULL for almost every row tempts SQLite's
    planner (no statistics) to answer ``trash_id IS NULL`` — the filter of every list — by scanning
    it instead of the list's own index. ``trash_id = <entry>`` implies NOT NULL, so it uses this one.
    """
    return models.Index(fields=["trash"], condition=models.Q(trash__isnull=False), name=f"{prefix}_trash")


class LiveManager(models.Manager):
    """Rows not in the trash (the default manager of every trashable model)."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(trash__isnull=True)


class TrashEntry(models.Model):
    """One delete (SPEC §14): what was deleted, by whom, when; restoring or purging it acts on exactly those rows.

    ``object_type`` is ``workspace``, ``project``, ``experiment``, ``run`` or ``asset``; the
    scope keys (``workspace`` … ``run``) locate the deleted object, so purging a parent removes
    the entries of everything under it (``CASCADE``). The id of this row is the ``{id}`` of
    ``/api/trash/{id}/``.
    """

    workspace = models.ForeignKey("runs_app.Workspace", on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("runs_app.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey(
        "runs_app.Experiment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    run = models.ForeignKey("runs_app.Run", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    object_type = models.CharField(max_length=12)
    object_id = models.PositiveBigIntegerField()
    object_repr = models.CharField(max_length=255)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField()

    class Meta:
        ordering = ["-deleted_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-deleted_at", "-id"], name="trash_ws_deleted_id"),
            models.Index(fields=["deleted_at"], name="trash_deleted_at"),
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_repr}"
