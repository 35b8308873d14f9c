"""Serializers of the runs_app API: input shapes (``*CreateSerializer``) and output shapes.

They only check types and resolve ids to rows the caller may see; every rule
(roles, slugs, workflow paths) is enforced by ``runs_app.services``. A parent id
the caller cannot see is reported exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..choices import Role
from ..models import Execution, Experiment, Membership, Project, Run, RunEvent, TaskExecution, Workspace
from ..selectors import execution_list, project_list, workspace_list

# --- fields -------------------------------------------------------------------------


class _VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary key resolved through a user-scoped selector.

    Invisible and nonexistent ids get the same message, so the answer never
    reveals that a row of another workspace exists.
    """

    not_found = "No such object."

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {"does_not_exist": self.not_found})
        super().__init__(**kwargs)

    def scoped_queryset(self, user):
        raise NotImplementedError

    def get_queryset(self):
        return self.scoped_queryset(self.context["request"].user)


class VisibleWorkspaceField(_VisibleRelatedField):
    not_found = "No such workspace."

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=Workspace.objects.none(), **kwargs)

    def scoped_queryset(self, user):
        return workspace_list(user=user)


class VisibleProjectField(_VisibleRelatedField):
    not_found = "No such project."

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=Project.objects.none(), **kwargs)

    def scoped_queryset(self, user):
        return project_list(user=user)


# --- workspaces and members ---------------------------------------------------------


class WorkspaceSerializer(serializers.ModelSerializer):
    """A workspace with its project count and the caller's role in it."""

    project_count = serializers.IntegerField(read_only=True)
    role = serializers.ChoiceField(
        choices=Role.choices,
        read_only=True,
        allow_null=True,
        help_text="The caller's role in this workspace (staff who are not members count as owner).",
    )

    class Meta:
        model = Workspace
        fields = ["id", "name", "slug", "description", "created_by", "created_at", "project_count", "role"]
        read_only_fields = fields


class WorkspaceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]
        read_only_fields = fields


class MembershipSetSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


# --- projects and experiments -------------------------------------------------------


class ProjectSerializer(serializers.ModelSerializer):
    experiment_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Project
        fields = ["id", "workspace", "name", "slug", "description", "created_by", "created_at", "experiment_count"]
        read_only_fields = fields


class ProjectCreateSerializer(serializers.Serializer):
    workspace = VisibleWorkspaceField()
    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ExperimentSerializer(serializers.ModelSerializer):
    run_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Experiment
        fields = [
            "id", "workspace", "project", "name", "slug", "description", "workflow_source", "workflow_name",
            "git_commit", "git_branch", "git_dirty", "created_by", "created_at", "run_count",
        ]  # fmt: skip
        read_only_fields = fields


class ExperimentDetailSerializer(ExperimentSerializer):
    """An experiment with the uncommitted diff captured at creation and its task graph."""

    class Meta(ExperimentSerializer.Meta):
        fields = [*ExperimentSerializer.Meta.fields, "git_diff", "topology"]
        read_only_fields = fields


class ExperimentCreateSerializer(serializers.Serializer):
    project = VisibleProjectField()
    name = serializers.CharField(max_length=200)
    workflow_source = serializers.CharField(max_length=500, help_text="Path relative to a workflow directory.")
    workflow_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    slug = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")


# --- runs and their history ---------------------------------------------------------


class TaskExecutionSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaskExecution
        fields = ["id", "task_name", "status", "started_at", "finished_at", "reused", "output_ref", "error"]
        read_only_fields = fields


class ExecutionSerializer(serializers.ModelSerializer):
    """One attempt at a run with its task executions (prefetched by ``execution_list``)."""

    task_executions = TaskExecutionSerializer(many=True, read_only=True)

    class Meta:
        model = Execution
        fields = [
            "id", "uuid", "number", "trigger", "status", "worker_hostname", "worker_pid", "celery_task_id",
            "queued_at", "dispatched_at", "started_at", "finished_at", "heartbeat_at", "environment", "error",
            "task_executions",
        ]  # fmt: skip
        read_only_fields = fields


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = ["id", "execution", "subject", "created_at", "from_status", "to_status", "message"]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    """A flat run row for lists: only the columns ``run_list`` loads, no nested rows."""

    experiment_name = serializers.CharField(source="experiment.name", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True)
    workspace_name = serializers.CharField(source="workspace.name", read_only=True)
    launched_by = serializers.CharField(source="launched_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Run
        fields = [
            "id", "number", "status", "params", "profile", "config_hash", "results",
            "experiment", "experiment_name", "project", "project_name", "workspace", "workspace_name",
            "launched_by", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    """A run with its full record and its executions (attempts) with their task executions."""

    executions = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [
            *RunSerializer.Meta.fields, "config", "overrides", "error", "workflow_snapshot", "cloned_from",
            "cancel_requested", "updated_at", "executions",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(ExecutionSerializer(many=True))
    def get_executions(self, run: Run) -> list[dict[str, Any]]:
        return ExecutionSerializer(execution_list(run=run), many=True).data


class RunHistorySerializer(serializers.Serializer):
    """What happened to a run: every attempt with its tasks, and the ordered status events."""

    run = serializers.IntegerField(read_only=True)
    status = serializers.CharField(read_only=True)
    executions = ExecutionSerializer(many=True, read_only=True)
    events = RunEventSerializer(many=True, read_only=True)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)
