"""``GET /api/workspaces/{id}/usage/``: storage use of a workspace, its projects and experiments (SPEC §14).

Any member reads it (``Http404`` for everyone else); the numbers come from
``assets_app.selectors.storage_usage_get`` (a constant number of queries).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assets_app import selectors as asset_selectors

from ..access import workspace_get


class _UsageBytesSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    logical_bytes = serializers.IntegerField(help_text="Every asset version's size, summed.")
    physical_bytes = serializers.IntegerField(help_text="Each stored object once (after deduplication).")


class _WorkspaceUsageSerializer(_UsageBytesSerializer):
    storage_quota_bytes = serializers.IntegerField(allow_null=True)


class _ProjectUsageSerializer(_UsageBytesSerializer):
    name = serializers.CharField()
    slug = serializers.CharField()


class _ExperimentUsageSerializer(_ProjectUsageSerializer):
    project = serializers.IntegerField()
    project_name = serializers.CharField()
    project_slug = serializers.CharField()


class WorkspaceUsageSerializer(serializers.Serializer):
    workspace = _WorkspaceUsageSerializer()
    projects = _ProjectUsageSerializer(many=True)
    experiments = _ExperimentUsageSerializer(many=True)


class WorkspaceUsageView(APIView):
    """Logical and physical asset bytes of a workspace, each project and each experiment, and its quota."""

    @extend_schema(
        parameters=[OpenApiParameter("workspace_pk", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses=WorkspaceUsageSerializer,
    )
    def get(self, request: Request, workspace_pk: str) -> Response:
        workspace = workspace_get(user=request.user, pk=workspace_pk)
        return Response(WorkspaceUsageSerializer(asset_selectors.storage_usage_get(workspace=workspace)).data)
