"""Retention policies (SPEC §14): which run outputs a workspace lets go, previewed, then applied.

A workspace's ``RetentionPolicy`` (owners) names two rules, either may be empty:
- ``keep_last_checkpoints`` K: each run keeps its K newest checkpoints; older ones go;
- ``remove_after_days`` N: the logs and artifacts of runs that finished more than N days ago go.

Invariants:
- Never touched: assets of runs tagged ``keep``; asset versions an alias points at; data assets
  and error traces; imported (crate) assets; logs still being written (segment folders);
  assets already removed.
- "Remove" keeps the row (its name, version, size, sha256, lineage and metadata stay in the
  catalog) and drops its content: ``file`` and checkpoint ``data`` are emptied, the indexed text
  is reduced to the name, ``retention_removed_at`` is set; downloads answer 410. The bytes
  themselves are freed only by the blob garbage collection (``blob_gc``: claims and grace), so
  an object another row still references (another run's artifact with the same content) is
  never freed.
- Every removal is one ``AuditEvent`` (``retention.remove``); every policy change one
  (``retention.set``). The preview writes nothing.
- ``retention_apply`` works in batches, each in one transaction that re-selects its rows with the
  candidate rules (a run tagged ``keep`` or an alias set in between is respected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from runs_app.access import workspace_require_role
from runs_app.choices import AuditAction, Role
from runs_app.models import AuditEvent, RetentionPolicy, Run, Workspace
from runs_app.models_lifecycle import run_tag_q

from ..choices import AssetKind
from ..models import Asset, AssetAlias

#: The run tag that exempts a run's assets from every rule.
KEEP_TAG = "keep"
#: Kinds the age rule removes (checkpoints have their own rule).
AGED_KINDS = (AssetKind.ARTIFACT, AssetKind.LOG)
BATCH = 200
MAX_DAYS = 36_500
MAX_KEEP = 1_000_000


@dataclass(frozen=True)
class RetentionPreview:
    """What a policy would remove now: counts and bytes (the sizes of the versions), and a sample."""

    count: int = 0
    bytes: int = 0
    checkpoints: int = 0
    checkpoint_bytes: int = 0
    run_files: int = 0
    run_file_bytes: int = 0
    sample: list[Asset] = field(default_factory=list)


def _rules_clean(keep_last_checkpoints: object, remove_after_days: object) -> tuple[int | None, int | None]:
    for field_name, value, top in (
        ("keep_last_checkpoints", keep_last_checkpoints, MAX_KEEP),
        ("remove_after_days", remove_after_days, MAX_DAYS),
    ):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top):
            raise ValidationError({field_name: f"A whole number from 0 to {top}, or empty for no rule."})
    return keep_last_checkpoints, remove_after_days  # type: ignore[return-value]


def retention_candidates(
    *, workspace_id: int, keep_last_checkpoints: int | None, remove_after_days: int | None, now=None
) -> QuerySet[Asset]:
    """The assets of the workspace the two rules would remove now (see the module invariants)."""
    now = now or timezone.now()
    rule = Q(pk__in=[])
    if keep_last_checkpoints is not None:
        newer = (
            Asset.objects.filter(run_id=OuterRef("run_id"), kind=AssetKind.CHECKPOINT, id__gt=OuterRef("id"))
            .order_by()
            .values("run_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        ranked = Asset.objects.filter(workspace_id=workspace_id, kind=AssetKind.CHECKPOINT, run__isnull=False)
        if keep_last_checkpoints > 0:
            ranked = ranked.alias(newer=Subquery(newer)).filter(newer__gte=keep_last_checkpoints)
        rule |= Q(pk__in=ranked.values("pk"))
    if remove_after_days is not None:
        cutoff = now - timedelta(days=remove_after_days)
        rule |= Q(kind__in=AGED_KINDS, run__isnull=False, run__finished_at__lt=cutoff)
    kept_runs = Run.objects.filter(run_tag_q(KEEP_TAG, db=Asset.objects.db), workspace_id=workspace_id).values("pk")
    return (
        Asset.objects.filter(rule, workspace_id=workspace_id, retention_removed_at__isnull=True, imported=False)
        .exclude(run_id__in=kept_runs)
        .exclude(pk__in=AssetAlias.objects.filter(workspace_id=workspace_id).values("asset_id"))
        .exclude(kind=AssetKind.LOG, file__endswith="/")
    )


def retention_preview(
    *, user, workspace: Workspace, keep_last_checkpoints: int | None, remove_after_days: int | None
) -> RetentionPreview:
    """What these rules would remove now (owners; nothing is written). Three queries."""
    workspace_require_role(user=user, workspace=workspace, role=Role.OWNER)
    keep, days = _rules_clean(keep_last_checkpoints, remove_after_days)
    qs = retention_candidates(workspace_id=workspace.pk, keep_last_checkpoints=keep, remove_after_days=days)
    rows = {
        row["is_checkpoint"]: row
        for row in qs.annotate(is_checkpoint=ExpressionWrapper(Q(kind=AssetKind.CHECKPOINT), BooleanField()))
        .order_by()
        .values("is_checkpoint")
        .annotate(n=Count("id"), size=Sum("size"))
    }
    ck, other = rows.get(True, {}), rows.get(False, {})
    sample = list(qs.select_related("run__experiment").order_by("-id")[:20])
    return RetentionPreview(
        count=(ck.get("n") or 0) + (other.get("n") or 0),
        bytes=(ck.get("size") or 0) + (other.get("size") or 0),
        checkpoints=ck.get("n") or 0,
        checkpoint_bytes=ck.get("size") or 0,
        run_files=other.get("n") or 0,
        run_file_bytes=other.get("size") or 0,
        sample=sample,
    )


def retention_policy_get(*, user, workspace: Workspace) -> RetentionPolicy:
    """The workspace's policy (owners); an unsaved, disabled one if none was set."""
    workspace_require_role(user=user, workspace=workspace, role=Role.OWNER)
    return RetentionPolicy.objects.filter(workspace=workspace).first() or RetentionPolicy(workspace=workspace)


@transaction.atomic
def retention_policy_set(
    *,
    user,
    workspace: Workspace,
    enabled: bool,
    keep_last_checkpoints: int | None,
    remove_after_days: int | None,
) -> RetentionPolicy:
    """Save the workspace's policy (owners and staff); recorded in the audit log.

    The policy is applied by the maintenance (``retention_apply_enabled``) while ``enabled``;
    the preview (``retention_preview``) shows what that would remove first. Raises
    ``ValidationError`` for a bad number, ``PermissionDenied`` below owner.
    """
    workspace_require_role(user=user, workspace=workspace, role=Role.OWNER)
    keep, days = _rules_clean(keep_last_checkpoints, remove_after_days)
    if not isinstance(enabled, bool):
        raise ValidationError({"enabled": "true or false."})
    policy = RetentionPolicy.objects.select_for_update().filter(workspace=workspace).first()
    before = (
        None
        if policy is None
        else {
            "enabled": policy.enabled,
            "keep_last_checkpoints": policy.keep_last_checkpoints,
            "remove_after_days": policy.remove_after_days,
        }
    )
    policy = policy or RetentionPolicy(workspace=workspace)
    policy.enabled, policy.keep_last_checkpoints, policy.remove_after_days = enabled, keep, days
    policy.updated_by = user if getattr(user, "is_authenticated", False) else None
    policy.save()
    after = {"enabled": enabled, "keep_last_checkpoints": keep, "remove_after_days": days}
    if before != after:
        AuditEvent.objects.record(action=AuditAction.RETENTION_SET, actor=user, workspace=workspace, obj=policy,
                                  object_repr=f"retention policy of {workspace.name}",
                                  details={"policy": after, "previous": before})  # fmt: skip
    return policy


def retention_apply(*, workspace_id: int, now=None) -> tuple[int, int]:
    """Apply the workspace's policy if enabled: (assets removed, their bytes). The maintenance calls it.

    Side effects per batch, in one transaction: the rows lose their content (module docstring)
    and one ``retention.remove`` audit event each. No bytes are deleted here (``blob_gc`` does).
    """
    policy = RetentionPolicy.objects.filter(workspace_id=workspace_id, enabled=True).first()
    if policy is None:
        return 0, 0
    now = now or timezone.now()
    rules = {"keep_last_checkpoints": policy.keep_last_checkpoints, "remove_after_days": policy.remove_after_days}
    removed = removed_bytes = 0
    while True:
        with transaction.atomic():
            ids = list(
                retention_candidates(workspace_id=workspace_id, now=now, **rules)
                .order_by("id")
                .values_list("id", flat=True)[:BATCH]
            )
            if not ids:
                break
            rows = list(
                Asset.objects.select_for_update()
                .filter(pk__in=ids)
                .only("id", "name", "version", "kind", "size", "sha256", "run_id")
            )
            # The indexed text keeps only the name: the content's words are gone with it.
            Asset.objects.filter(pk__in=ids).update(file="", data=None, retention_removed_at=now, search_text=F("name"))
            AuditEvent.objects.bulk_create(
                [
                    AuditEvent(
                        action=AuditAction.RETENTION_REMOVE,
                        workspace_id=workspace_id,
                        object_type="assets_app.asset",
                        object_id=str(row.pk),
                        object_repr=f"{row.name} v{row.version}"[:255],
                        details={
                            "kind": row.kind,
                            "size": row.size,
                            "sha256": row.sha256,
                            "run": row.run_id,
                            "policy": rules,
                        },
                    )  # fmt: skip
                    for row in rows
                ]
            )
        removed += len(rows)
        removed_bytes += sum(row.size for row in rows)
    RetentionPolicy.objects.filter(pk=policy.pk).update(last_applied_at=now)
    return removed, removed_bytes


def retention_apply_enabled() -> dict:
    """Apply every enabled policy (the periodic task ``assets.retention``): totals per run of the task."""
    totals = {"workspaces": 0, "removed": 0, "bytes": 0}
    for workspace_id in RetentionPolicy.objects.filter(enabled=True).values_list("workspace_id", flat=True):
        count, size = retention_apply(workspace_id=workspace_id)
        totals["workspaces"] += 1
        totals["removed"] += count
        totals["bytes"] += size
    return totals
