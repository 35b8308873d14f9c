"""Django admin for the asset catalog: one list over every kind plus one per typed kind."""

from django.contrib import admin

from .models import ArtifactAsset, Asset, AssetUse, CheckpointAsset, DataAsset, ErrorTraceAsset, LogAsset, Upload


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "kind", "scope", "workspace", "size", "producer_run", "created_at"]
    list_filter = ["kind", "scope"]
    list_select_related = ["workspace", "producer_run__experiment"]
    search_fields = ["name", "sha256"]
    readonly_fields = ["scope_key", "search_text"]
    raw_id_fields = [
        "workspace", "project", "experiment", "run", "producer_run", "producer_execution", "parent", "created_by",
    ]  # fmt: skip
    date_hierarchy = "created_at"


@admin.register(DataAsset)
class DataAssetAdmin(AssetAdmin):
    list_display = ["name", "version", "scope", "workspace", "size", "import_action", "source_path", "created_at"]
    list_filter = ["scope", "import_action"]


@admin.register(ArtifactAsset)
class ArtifactAssetAdmin(AssetAdmin):
    list_filter = ["scope"]


@admin.register(LogAsset)
class LogAssetAdmin(AssetAdmin):
    list_display = ["name", "version", "workspace", "line_count", "producer_run", "created_at"]
    list_filter = ["scope"]


@admin.register(CheckpointAsset)
class CheckpointAssetAdmin(AssetAdmin):
    list_display = ["name", "version", "workspace", "parent", "producer_run", "created_at"]
    list_filter = ["scope"]


@admin.register(ErrorTraceAsset)
class ErrorTraceAssetAdmin(AssetAdmin):
    list_display = ["exception_type", "name", "workspace", "producer_run", "producer_task", "created_at"]
    list_filter = ["exception_type"]
    search_fields = ["name", "exception_type", "exception_message", "fingerprint"]


@admin.register(AssetUse)
class AssetUseAdmin(admin.ModelAdmin):
    list_display = ["asset", "run", "execution", "task_name", "created_at"]
    list_select_related = ["asset", "run__experiment", "execution__run__experiment"]
    raw_id_fields = ["asset", "run", "execution"]


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    """tus uploads: in progress, complete (with their asset), failed, aborted or expired. Read-only."""

    list_display = ["id", "name", "workspace", "created_by", "status", "offset", "length", "asset", "expires_at"]
    list_filter = ["status"]
    list_select_related = ["workspace", "created_by", "asset"]
    search_fields = ["name", "filename", "sha256"]
    raw_id_fields = ["workspace", "project", "experiment", "created_by", "asset"]
    readonly_fields = [
        "id", "filename", "name", "tags", "description", "metadata", "length", "offset", "partial_name", "status",
        "error", "sha256", "created_at", "updated_at", "expires_at",
    ]  # fmt: skip
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False
