"""``GET /api/audit/?workspace=`` (SPEC §14): the audit log, filterable, keyset-paginated.

Owners read their workspaces' events, staff all (``runs_app.audit_log``); the filters are
``AuditEventFilterSet`` (shared with the page).
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.generics import ListAPIView

from molexp_site.api import KeysetPagination

from ..audit_log import AUDIT_ORDERING, audit_event_list
from ..filtersets import AuditEventFilterSet
from ..models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", help_text="Username of who acted (empty: the system).")

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "action", "actor", "workspace", "object_type", "object_id", "object_repr",
                  "client", "details"]  # fmt: skip
        read_only_fields = fields


class AuditEventListView(ListAPIView):
    """Security-relevant actions, newest first: memberships, invitations, tokens, crates, aliases, quotas, gc."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    pagination_class = KeysetPagination
    keyset_ordering = AUDIT_ORDERING
    queryset = AuditEvent.objects.none()

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return audit_event_list(user=self.request.user)
