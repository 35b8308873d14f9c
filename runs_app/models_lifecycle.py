"""Rows of SPEC §14 beside the record: slugs that used to name an object, and retention policies.

Imported at the bottom of ``runs_app.models`` (Django finds the models there); relations are
named by string so this module imports no other module of the app.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import connections, models


class SlugRedirect(models.Model):
    """A slug that named a workspace, project or experiment before a rename; its page URLs redirect (301).

    ``parent_id`` is the slug's namespace: 0 for a workspace (slugs are global), the workspace
    id for a project, the project id for an experiment. A live object holding the slug always
    wins: the redirect is only consulted when the lookup of the slug found nothing.
    """

    KINDS = (("workspace", "workspace"), ("project", "project"), ("experiment", "experiment"))

    kind = models.CharField(max_length=10, choices=KINDS)
    parent_id = models.BigIntegerField(default=0)
    old_slug = models.SlugField(max_length=100)
    target_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "parent_id", "old_slug"], name="slugredirect_unique_old_slug")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.old_slug} → #{self.target_id}"


class RetentionPolicy(models.Model):
    """A workspace's retention policy (SPEC §14), set by owners, applied by the maintenance when enabled.

    ``keep_last_checkpoints``: each run keeps its K newest checkpoints (empty: all).
    ``remove_after_days``: the logs and artifacts of runs finished more than N days ago go (empty: never).
    Runs tagged ``keep`` and asset versions an alias points at are never touched.
    """

    workspace = models.OneToOneField("runs_app.Workspace", on_delete=models.CASCADE, related_name="retention_policy")
    enabled = models.BooleanField(default=False)
    keep_last_checkpoints = models.PositiveIntegerField(null=True, blank=True)
    remove_after_days = models.PositiveIntegerField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_applied_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"retention of {self.workspace_id} ({state})"


def run_tag_q(tag: str, *, db: str = "default", prefix: str = "") -> models.Q:
    """A ``Q`` for runs carrying ``tag`` (``prefix`` reaches the run through a relation, e.g. ``run__``).

    JSON containment on PostgreSQL; on SQLite (no JSON containment) the JSON-encoded element,
    quotes included, so ``keep`` never matches ``keeper`` (as the asset catalog's ``tag:`` does;
    SQLite's LIKE ignores ASCII case there).
    """
    if connections[db].features.supports_json_field_contains:
        return models.Q(**{f"{prefix}tags__contains": [tag]})
    return models.Q(**{f"{prefix}tags__icontains": json.dumps(tag)})
