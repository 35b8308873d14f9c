"""Workspace storage quotas (SPEC §14): refuse new bytes beyond ``Workspace.storage_quota_bytes``.

Invariants:
- The quota bounds the workspace's *physical* bytes (``assets_app.usage``: each stored
  object once). Bytes the workspace already holds cost nothing: registering a version
  whose object it already references is never refused.
- A tus upload is checked at creation, from ``Upload-Length``, before any byte is
  received; unexpired uploads of the workspace still receiving count as already used, so parallel
  uploads cannot overshoot together. Artifact, checkpoint and data registrations (task
  saves, crate imports, library imports, finished uploads) are checked by ``asset_create``.
  Logs and error traces are never refused: a failing task must be able to say why.
- The bound is checked, not reserved: two writers racing at the edge may overshoot by
  one object each. Refusals raise ``QuotaExceeded`` (a ``ValidationError``: a clear 400
  in forms and the API, 413 for tus creation, a failed task in a run).
"""

from __future__ import annotations

from django.db.models import Sum
from django.utils import timezone

from molexp_site.errors import QuotaExceeded
from molexp_site.units import size_display
from runs_app.models import Workspace

from ..choices import UploadStatus
from ..models import Asset, Upload
from ..usage import workspace_physical_bytes

__all__ = ["QuotaExceeded", "quota_check_object", "quota_check_upload"]


def _refuse(*, workspace_name: str, quota: int, used: int, incoming: int, what: str) -> None:
    raise QuotaExceeded(
        f"Storage quota exceeded: workspace {workspace_name!r} holds {size_display(used)} of its "
        f"{size_display(quota)} quota and {what} needs {size_display(incoming)} more. Delete assets "
        "(their bytes are freed by the next garbage collection) or ask an owner to raise storage_quota_bytes."
    )


def quota_check_upload(*, workspace: Workspace, length: int) -> None:
    """Refuse a new tus upload of ``length`` bytes beyond the quota (``QuotaExceeded``); no writes."""
    quota = workspace.storage_quota_bytes
    if quota is None:
        return
    receiving = Upload.objects.filter(
        workspace=workspace, status=UploadStatus.RECEIVING, expires_at__gt=timezone.now()
    ).aggregate(n=Sum("length"))
    used = workspace_physical_bytes(workspace_id=workspace.pk) + int(receiving["n"] or 0)
    if used + length > quota:
        _refuse(workspace_name=workspace.name, quota=quota, used=used, incoming=length, what="this upload")


def quota_check_object(*, workspace_id: int, quota: tuple[str, int | None] | None, name: str, size: int) -> None:
    """Refuse registering the stored object ``name`` (``size`` bytes) in a workspace beyond its quota.

    ``quota``: the workspace's ``(name, storage_quota_bytes)`` as the caller read it in its
    transaction (``asset_create`` reads it with the version, in one statement), None for a
    workspace in the trash. Free when there is no quota or the workspace already references
    ``name``. Raises ``QuotaExceeded``; no writes.
    """
    if quota is None or quota[1] is None:
        return
    workspace_name, quota_bytes = quota
    if not name or Asset.objects.filter(workspace_id=workspace_id, file=name).exists():
        return
    used = workspace_physical_bytes(workspace_id=workspace_id)
    if used + size > quota_bytes:
        _refuse(workspace_name=workspace_name, quota=quota_bytes, used=used, incoming=size, what="this file")
