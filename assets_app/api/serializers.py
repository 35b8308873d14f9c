"""Serializers of the catalog API: a flat row for lists and one detail shape per asset kind.

The list row holds only the columns ``asset_list`` loads (no per-row queries);
the detail adds the common record (metadata, producer, description) and the
fields of its kind (data: source and import action; log: line count;
checkpoint: data and parent; error trace: exception, traceback, fingerprint).
"""

from __future__ import annotations

from rest_framework import serializers

from ..choices import AssetKind
from ..models import Asset

LIST_FIELDS = [
    "id", "kind", "name", "version", "scope", "workspace", "workspace_name", "project", "project_name",
    "experiment", "experiment_name", "run", "producer_run", "producer_task", "size", "sha256", "media_type",
    "tags", "fingerprint", "created_at",
]  # fmt: skip


class AssetSerializer(serializers.ModelSerializer):
    """A catalog row (list)."""

    workspace_name = serializers.CharField(source="workspace.name", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True, allow_null=True, default=None)
    experiment_name = serializers.CharField(source="experiment.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Asset
        fields = LIST_FIELDS
        read_only_fields = fields


_DETAIL_FIELDS = [
    *LIST_FIELDS, "description", "metadata", "producer_execution", "created_by",
]  # fmt: skip


class AssetDetailSerializer(AssetSerializer):
    """The record common to every kind: the list row plus description, metadata and producer."""

    class Meta(AssetSerializer.Meta):
        fields = _DETAIL_FIELDS
        read_only_fields = fields


class ArtifactAssetDetailSerializer(AssetDetailSerializer):
    """A file a task produced: the common record only."""


class DataAssetDetailSerializer(AssetDetailSerializer):
    class Meta(AssetSerializer.Meta):
        fields = [*_DETAIL_FIELDS, "source_path", "import_action"]
        read_only_fields = fields


class LogAssetDetailSerializer(AssetDetailSerializer):
    class Meta(AssetSerializer.Meta):
        fields = [*_DETAIL_FIELDS, "line_count"]
        read_only_fields = fields


class CheckpointAssetDetailSerializer(AssetDetailSerializer):
    class Meta(AssetSerializer.Meta):
        fields = [*_DETAIL_FIELDS, "data", "parent"]
        read_only_fields = fields


class ErrorTraceAssetDetailSerializer(AssetDetailSerializer):
    class Meta(AssetSerializer.Meta):
        fields = [*_DETAIL_FIELDS, "exception_type", "exception_message", "traceback"]
        read_only_fields = fields


#: The detail shape of each kind (``kind`` is the discriminator in the OpenAPI schema).
DETAIL_SERIALIZERS: dict[str, type[AssetDetailSerializer]] = {
    AssetKind.DATA: DataAssetDetailSerializer,
    AssetKind.ARTIFACT: ArtifactAssetDetailSerializer,
    AssetKind.LOG: LogAssetDetailSerializer,
    AssetKind.CHECKPOINT: CheckpointAssetDetailSerializer,
    AssetKind.ERROR_TRACE: ErrorTraceAssetDetailSerializer,
}
