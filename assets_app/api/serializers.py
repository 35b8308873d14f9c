"""Serializers of the catalog API: a flat row for lists and one detail shape per asset kind.

The list row holds only the columns ``asset_list`` loads (no per-row queries);
the detail adds the common record (metadata, producer, description) and the
fields of its kind (data: source and import action; log: line count;
checkpoint: data and parent; error trace: exception, traceback, fingerprint).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from ..choices import AssetKind
from ..models import Asset

LIST_FIELDS = [
    "id", "kind", "name", "version", "scope", "workspace", "workspace_name", "project", "project_name",
    "experiment", "experiment_name", "run", "producer_run", "producer_task", "size", "sha256", "media_type",
    "tags", "fingerprint", "created_at",
]  # fmt: skip


#: The list row's ``created_at``, as ``AssetSerializer`` maps the model field (a ``DateTimeField``): one
#: instance, not the child's ``fields`` (building those introspects the model, ~1.5 ms a request).
_CREATED_AT = serializers.DateTimeField(read_only=True)


class _AssetRows(serializers.ListSerializer):
    """A page of catalog rows. DRF's generic path resolves every field of every row through its
    source (~4 ms of CPU for 50 rows on the loaded bench machine, a fifth of an API search); the row is
    built here from the columns and values ``asset_search(rows="api")`` loads, in ``LIST_FIELDS`` order,
    the datetime through a DRF ``DateTimeField`` (test_api_assets_list checks it equals DRF's)."""

    def to_representation(self, data):
        if type(self.child) is not AssetSerializer:  # pragma: no cover - the detail shapes are never listed
            return super().to_representation(data)
        created = _CREATED_AT.to_representation
        rows = data.all() if hasattr(data, "all") else data
        return [
            {
                "id": a.id,
                "kind": a.kind,
                "name": a.name,
                "version": a.version,
                "scope": a.scope,
                "workspace": a.workspace_id,
                "workspace_name": a.workspace_name,
                "project": a.project_id,
                "project_name": a.project_name,
                "experiment": a.experiment_id,
                "experiment_name": a.experiment_name,
                "run": a.run_id,
                "producer_run": a.producer_run_id,
                "producer_task": a.producer_task,
                "size": a.size,
                "sha256": a.sha256,
                "media_type": a.media_type,
                "tags": a.tags,
                "fingerprint": a.fingerprint,
                "created_at": created(a.created_at),
            }  # fmt: skip
            for a in rows
        ]


class AssetSerializer(serializers.ModelSerializer):
    """A catalog row (list)."""

    workspace_name = serializers.CharField(source="workspace.name", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True, allow_null=True, default=None)
    experiment_name = serializers.CharField(source="experiment.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Asset
        fields = LIST_FIELDS
        read_only_fields = fields
        list_serializer_class = _AssetRows


_DETAIL_FIELDS = [
    *LIST_FIELDS, "description", "metadata", "producer_execution", "created_by", "aliases",
]  # fmt: skip


class AssetDetailSerializer(AssetSerializer):
    """The record common to every kind: the list row plus description, metadata, producer and aliases."""

    aliases = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="alias", help_text="Aliases pointing at this version (SPEC §14)."
    )

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


# --- catalog search and error-trace groups ------------------------------------------------


class FacetValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()


class ProjectFacetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    count = serializers.IntegerField()


class FacetsSerializer(serializers.Serializer):
    """Counts by kind, project and producing-run status over the newest ``sampled`` matches."""

    kind = FacetValueSerializer(many=True)
    project = ProjectFacetSerializer(many=True)
    status = FacetValueSerializer(many=True)
    sampled = serializers.IntegerField(help_text="Matching rows the facets counted.")
    capped = serializers.BooleanField(help_text="True when only the newest matches were counted.")


@extend_schema_serializer(many=False)  # already a page: never wrapped in the paginator's envelope
class AssetSearchPageSerializer(serializers.Serializer):
    """A page of catalog results; ``count`` stops at the cap (then ``count_capped`` is true: "1000+")."""

    count = serializers.IntegerField()
    count_capped = serializers.BooleanField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    sort = serializers.CharField()
    ranked = serializers.BooleanField(help_text="True when the page is in relevance order.")
    results = AssetSerializer(many=True)
    facets = FacetsSerializer(required=False, help_text="Only with ?facets=true.")


class QueryErrorSerializer(serializers.Serializer):
    # A 400 is either a query error (with position and token) or a filter's field error
    # ({"detail", "<field>": [...]}); schemathesis (tests/security) caught the schema requiring both keys.
    detail = serializers.CharField()
    position = serializers.IntegerField(
        required=False, help_text="0-based character offset of the bad token in q (query errors only)."
    )
    token = serializers.CharField(allow_blank=True, required=False, help_text="The bad token (query errors only).")


class TraceRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    experiment = serializers.CharField(help_text="The run's experiment slug.")


class TraceExperimentSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class TraceGroupSerializer(serializers.Serializer):
    """One failure across runs: error traces sharing a fingerprint."""

    fingerprint = serializers.CharField()
    exception_type = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True, help_text="The newest trace's message (cut at 500).")
    task = serializers.CharField(allow_blank=True)
    experiment = TraceExperimentSerializer(allow_null=True, help_text="The newest trace's experiment.")
    count = serializers.IntegerField()
    run_count = serializers.IntegerField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    sample_id = serializers.IntegerField(help_text="The newest trace (an asset id).")
    runs = TraceRunSerializer(many=True, help_text="Latest runs hit (capped).")


class AssetUpdateSerializer(serializers.Serializer):
    """``PATCH /api/assets/{id}/`` (SPEC §14): tags and description, editors."""

    tags = serializers.ListField(child=serializers.CharField(max_length=100, allow_blank=True), required=False,
                                 max_length=200)  # fmt: skip
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000, trim_whitespace=False)


class AssetAliasSetSerializer(serializers.Serializer):
    """``POST /api/assets/{id}/alias/``: set the alias on this version, or move it here."""

    alias = serializers.CharField(max_length=64)


class AssetAliasSerializer(serializers.Serializer):
    alias = serializers.CharField()
    asset = serializers.IntegerField(source="asset_id")
    name = serializers.CharField()
    kind = serializers.CharField()
    previous_asset = serializers.IntegerField(allow_null=True, help_text="The version it pointed at before a move.")
