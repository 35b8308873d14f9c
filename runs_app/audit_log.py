"""Reads of the audit log (SPEC §14): who may read which events, shaped for the page and the API.

Invariants:
- Owners read the events of the workspaces they own; staff read every event, including
  those outside any workspace (garbage collections, API tokens). Nobody else reads any.
- The page and the API share this selector and ``AuditEventFilterSet``; both are
  keyset-paginated newest first on (``created_at``, ``id``), one index range scan per page.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from .access import workspaces_with_role_at_least
from .choices import Role
from .models import AuditEvent

AUDIT_ORDERING = ("-created_at", "-id")


def audit_event_list(*, user: AbstractBaseUser) -> QuerySet[AuditEvent]:
    """The audit events ``user`` may read, newest first (no joins: rows carry names)."""
    qs = AuditEvent.objects.order_by(*AUDIT_ORDERING)
    if user.is_authenticated and user.is_staff:
        return qs
    if not user.is_authenticated:
        return qs.none()
    owned = workspaces_with_role_at_least(user=user, role=Role.OWNER).values("pk")
    return qs.filter(workspace_id__in=owned)
