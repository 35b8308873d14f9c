"""Django admin for runs_app: lists select their relations so they cost a constant number of queries."""

from django.contrib import admin

from .models import (
    Execution,
    Experiment,
    Invitation,
    Membership,
    Metric,
    Project,
    Run,
    RunEvent,
    SourceBlob,
    TaskExecution,
    Workspace,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_by", "created_at"]
    list_select_related = ["created_by"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    raw_id_fields = ["created_by"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "workspace"]
    search_fields = ["user__username", "workspace__slug"]
    raw_id_fields = ["user", "workspace"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["username", "workspace", "role", "invited_by", "created_at"]
    list_filter = ["role"]
    list_select_related = ["workspace", "invited_by"]
    search_fields = ["username", "workspace__slug"]
    raw_id_fields = ["workspace", "invited_by"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "workspace", "created_at"]
    list_select_related = ["workspace"]
    search_fields = ["name", "slug", "workspace__slug"]
    raw_id_fields = ["workspace", "created_by"]


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "project", "workspace", "workflow_source", "git_commit", "created_at"]
    list_select_related = ["project", "workspace"]
    search_fields = ["name", "slug", "workflow_source"]
    raw_id_fields = ["project", "workspace", "created_by"]


class ExecutionInline(admin.TabularInline):
    model = Execution
    extra = 0
    fields = ["number", "trigger", "status", "worker_hostname", "queued_at", "started_at", "finished_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "profile", "workspace", "launched_by", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["experiment__project__workspace", "workspace", "launched_by"]
    search_fields = ["config_hash", "fingerprint", "experiment__slug", "profile"]
    raw_id_fields = ["experiment", "project", "workspace", "source_blob", "cloned_from", "launched_by"]
    date_hierarchy = "created_at"
    inlines = [ExecutionInline]


class TaskExecutionInline(admin.TabularInline):
    model = TaskExecution
    extra = 0
    fields = ["task_name", "status", "reused", "started_at", "finished_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "trigger", "status", "worker_hostname", "queued_at", "heartbeat_at"]
    list_filter = ["status", "trigger"]
    list_select_related = ["run__experiment__project__workspace"]
    search_fields = ["celery_task_id", "worker_hostname"]
    raw_id_fields = ["run"]
    readonly_fields = ["uuid"]
    inlines = [TaskExecutionInline]


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin):
    """Append-only history: shown, never edited."""

    list_display = ["run", "subject", "from_status", "to_status", "created_at", "message"]
    list_filter = ["subject", "to_status"]
    list_select_related = ["run__experiment"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ["run", "key", "step", "value", "created_at"]
    list_select_related = ["run__experiment"]
    search_fields = ["key"]
    raw_id_fields = ["run", "execution"]


@admin.register(SourceBlob)
class SourceBlobAdmin(admin.ModelAdmin):
    list_display = ["sha256", "size", "created_at"]
    search_fields = ["sha256"]
    readonly_fields = ["sha256", "size", "created_at"]
    exclude = ["content"]
