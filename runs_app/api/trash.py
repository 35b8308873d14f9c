"""The trash in the API (SPEC §14): ``DELETE`` on a workspace, project, experiment or run URL,
``GET /api/trash/?workspace=``, ``POST /api/trash/{id}/restore/``, ``DELETE /api/trash/{id}/``.

The ``{id}`` is a ``TrashEntry``: one per delete, so restoring a parent brings back exactly
what that delete hid. Thin adapters over ``runs_app.services`` (``object_delete``,
``trash_restore``, ``trash_purge``) and ``runs_app.selectors`` (``trash_list``, ``trash_entry_get``).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from .. import selectors, services
from ..models import TrashEntry


class TrashDestroyMixin:
    """``DELETE`` on an object URL: into the trash (204). The viewset's ``get_object`` scopes it (404 outsiders)."""

    @extend_schema(responses={204: None}, description="Moves it (and everything under it) into the trash (SPEC §14).")
    def destroy(self, request: Request, pk: str) -> Response:
        services.object_delete(user=request.user, obj=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class TrashEntrySerializer(serializers.ModelSerializer):
    deleted_by = serializers.SerializerMethodField(help_text="Username of who deleted it.")
    purge_after = serializers.SerializerMethodField(help_text="When the maintenance purges it (MOLEXP_TRASH_DAYS).")

    class Meta:
        model = TrashEntry
        fields = ["id", "object_type", "object_id", "object_repr", "workspace", "project", "experiment", "run",
                  "deleted_by", "deleted_at", "purge_after"]  # fmt: skip
        read_only_fields = fields

    def get_deleted_by(self, entry: TrashEntry) -> str:
        return entry.deleted_by.get_username() if entry.deleted_by else ""

    def get_purge_after(self, entry: TrashEntry) -> str:
        return (entry.deleted_at + timedelta(days=settings.MOLEXP_TRASH_DAYS)).isoformat()


class TrashRestoreSerializer(serializers.Serializer):
    restored = serializers.DictField(child=serializers.IntegerField(), help_text="Rows brought back, per model.")


_WORKSPACE = OpenApiParameter("workspace", OpenApiTypes.INT, required=True, description="Workspace id (owners).")


class TrashViewSet(viewsets.GenericViewSet):
    """A workspace's trash, for its owners: list, restore, purge."""

    queryset = TrashEntry.objects.none()
    serializer_class = TrashEntrySerializer
    lookup_value_regex = "[^/]+"
    filterset_class = None

    def get_object(self) -> TrashEntry:
        return selectors.trash_entry_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[_WORKSPACE], responses=TrashEntrySerializer(many=True))
    def list(self, request: Request) -> Response:
        """Entries newest first (the workspace may itself be in the trash)."""
        raw = request.query_params.get("workspace", "")
        if not raw.isdigit():
            raise ValidationError({"workspace": "Give ?workspace=<id> (a workspace you own)."})
        workspace = selectors.trash_workspace_get(user=request.user, pk=int(raw))
        page = self.paginate_queryset(selectors.trash_list(workspace=workspace))
        return self.get_paginated_response(TrashEntrySerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: TrashRestoreSerializer})
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str) -> Response:
        """Bring back exactly what that delete hid (409 while its parent is in the trash)."""
        restored = services.trash_restore(user=request.user, entry=self.get_object())
        return Response({"restored": restored})

    @extend_schema(responses={204: None}, description="Purge: remove the rows for good, free bytes nobody else uses.")
    def destroy(self, request: Request, pk: str) -> Response:
        services.trash_purge(user=request.user, entry=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
