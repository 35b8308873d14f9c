"""A workspace's storage quota (SPEC §14): set by owners and staff.

Invariants: the quota is one nullable column (``Workspace.storage_quota_bytes``, empty =
no bound); setting it never removes anything (bytes above a lowered quota stay, new ones
are refused by ``assets_app.services.quota``).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from ..access import workspace_require_role
from ..choices import AuditAction, Role
from ..models import AuditEvent, Workspace


def workspace_quota_set(*, user: AbstractBaseUser, workspace: Workspace, storage_quota_bytes: int | None) -> Workspace:
    """Set or clear (``None``) the workspace's storage quota.

    Preconditions: ``user`` is an owner of ``workspace`` or staff (``PermissionDenied``
    otherwise). Raises ``ValidationError`` for a negative value. Side effects: one UPDATE,
    one audit event.
    """
    workspace_require_role(user=user, workspace=workspace, role=Role.OWNER)
    if storage_quota_bytes is not None and (not isinstance(storage_quota_bytes, int) or storage_quota_bytes < 0):
        raise ValidationError({"storage_quota_bytes": "A whole number of bytes, 0 or more, or null for no bound."})
    before = Workspace.objects.filter(pk=workspace.pk).values_list("storage_quota_bytes", flat=True).first()
    Workspace.objects.filter(pk=workspace.pk).update(storage_quota_bytes=storage_quota_bytes)
    workspace.storage_quota_bytes = storage_quota_bytes
    AuditEvent.objects.record(action=AuditAction.QUOTA_SET, actor=user, workspace=workspace, obj=workspace,
                              details={"storage_quota_bytes": storage_quota_bytes, "previous": before})  # fmt: skip
    return workspace
