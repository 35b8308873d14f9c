"""Retention policy API (SPEC §14), owners and staff; documented in docs/lifecycle.md.

- ``GET /api/workspaces/{id}/retention/``: the policy (a disabled, empty one if never set);
- ``PUT /api/workspaces/{id}/retention/`` ``{enabled, keep_last_checkpoints, remove_after_days}``:
  save it; the answer carries the policy and the preview of what the maintenance would remove now;
- ``POST /api/workspaces/{id}/retention/preview/`` with the same rules: count and bytes that would
  go (and a sample), writing nothing.

One service call each (``assets_app.services.retention``); ``Http404`` for outsiders,
``PermissionDenied`` (403) below owner, 400 for bad numbers.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from runs_app.access import workspace_get
from runs_app.models import RetentionPolicy

from ..services import retention_policy_get, retention_policy_set, retention_preview

_WS = OpenApiParameter("workspace_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Workspace id.")


class RetentionRulesSerializer(serializers.Serializer):
    keep_last_checkpoints = serializers.IntegerField(
        min_value=0, max_value=1_000_000, allow_null=True, required=False, default=None,
        help_text="Each run keeps its K newest checkpoints; null: keep all.",
    )  # fmt: skip
    remove_after_days = serializers.IntegerField(
        min_value=0, max_value=36_500, allow_null=True, required=False, default=None,
        help_text="Logs and artifacts of runs finished more than N days ago go; null: never.",
    )  # fmt: skip


class RetentionPolicySetSerializer(RetentionRulesSerializer):
    enabled = serializers.BooleanField(help_text="Applied by the maintenance while true.")


class RetentionPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = RetentionPolicy
        fields = ["enabled", "keep_last_checkpoints", "remove_after_days", "updated_at", "last_applied_at"]
        read_only_fields = fields


class RetentionSampleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    size = serializers.IntegerField()
    run = serializers.IntegerField(source="run_id", allow_null=True)


class RetentionPreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Asset versions that would lose their content now.")
    bytes = serializers.IntegerField(help_text="Their sizes summed (bytes shared with other rows stay stored).")
    checkpoints = serializers.IntegerField()
    checkpoint_bytes = serializers.IntegerField()
    run_files = serializers.IntegerField(help_text="Logs and artifacts.")
    run_file_bytes = serializers.IntegerField()
    sample = RetentionSampleSerializer(many=True, help_text="Up to 20 of them, newest first.")


class RetentionPolicyAnswerSerializer(RetentionPolicySerializer):
    preview = RetentionPreviewSerializer(read_only=True)

    class Meta(RetentionPolicySerializer.Meta):
        fields = [*RetentionPolicySerializer.Meta.fields, "preview"]
        read_only_fields = fields


class WorkspaceRetentionView(APIView):
    """A workspace's retention policy: read and save (owners and staff)."""

    @extend_schema(parameters=[_WS], responses={200: RetentionPolicySerializer})
    def get(self, request: Request, workspace_pk: str) -> Response:
        workspace = workspace_get(user=request.user, pk=workspace_pk)
        return Response(RetentionPolicySerializer(retention_policy_get(user=request.user, workspace=workspace)).data)

    @extend_schema(parameters=[_WS], request=RetentionPolicySetSerializer,
                   responses={200: RetentionPolicyAnswerSerializer})  # fmt: skip
    def put(self, request: Request, workspace_pk: str) -> Response:
        workspace = workspace_get(user=request.user, pk=workspace_pk)
        body = RetentionPolicySetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = retention_policy_set(user=request.user, workspace=workspace, **body.validated_data)
        policy.preview = retention_preview(
            user=request.user,
            workspace=workspace,
            keep_last_checkpoints=policy.keep_last_checkpoints,
            remove_after_days=policy.remove_after_days,
        )
        return Response(RetentionPolicyAnswerSerializer(policy).data)


class WorkspaceRetentionPreviewView(APIView):
    """What these rules would remove now (owners and staff); writes nothing."""

    @extend_schema(parameters=[_WS], request=RetentionRulesSerializer, responses={200: RetentionPreviewSerializer})
    def post(self, request: Request, workspace_pk: str) -> Response:
        workspace = workspace_get(user=request.user, pk=workspace_pk)
        body = RetentionRulesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        preview = retention_preview(user=request.user, workspace=workspace, **body.validated_data)
        return Response(RetentionPreviewSerializer(preview).data)
