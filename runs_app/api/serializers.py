"""Serializers of the runs_app API: input shapes (``*CreateSerializer``) and output shapes.

They only check types and resolve ids to rows the caller may see; every rule
(roles, slugs, workflow paths) is enforced by ``runs_app.services``. A parent id
the caller cannot see is reported exactly like one that does not exist.
"""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..choices import Role
from ..models import Execution, Experiment, Invitation, Membership, Project, Run, RunEvent, TaskExecution, Workspace
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
        fields = [
            "id", "name", "slug", "description", "created_by", "created_at", "project_count", "role",
            "storage_quota_bytes", "archived_at",
        ]  # fmt: skip
        read_only_fields = fields


class _EditSerializer(serializers.Serializer):
    """The fields every ``PATCH`` of a workspace, project or experiment takes (SPEC §14); all optional."""

    name = serializers.CharField(max_length=200, required=False)
    slug = serializers.CharField(
        max_length=100, required=False, help_text="New URL slug; by default a rename derives it from the name."
    )
    description = serializers.CharField(required=False, allow_blank=True)
    archived = serializers.BooleanField(
        required=False, help_text="true archives (hidden from lists, read-only); false restores."
    )


class WorkspaceUpdateSerializer(_EditSerializer):
    """``PATCH /api/workspaces/{id}/`` (SPEC §14): rename, describe, archive (owners); the storage quota."""

    storage_quota_bytes = serializers.IntegerField(
        min_value=0,
        max_value=2**63 - 1,
        allow_null=True,
        required=False,
        help_text="Physical asset bytes the workspace may hold; null removes the bound (owners and staff).",
    )


class ProjectUpdateSerializer(_EditSerializer):
    """``PATCH /api/projects/{id}/`` (SPEC §14): rename, describe, archive (owners)."""


class ExperimentUpdateSerializer(_EditSerializer):
    """``PATCH /api/experiments/{id}/`` (SPEC §14): rename, describe, archive, workflow (editors and owners)."""

    workflow_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="One of the workflows its file defines."
    )


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


class InvitationSerializer(serializers.ModelSerializer):
    """A pending invitation: the named user becomes a member with ``role`` once they accept."""

    workspace_name = serializers.CharField(source="workspace.name", read_only=True)
    invited_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["workspace", "workspace_name", "username", "role", "invited_by", "created_at", "status"]
        read_only_fields = fields

    def get_status(self, obj: Invitation) -> str:
        return "pending"


class InvitationRespondSerializer(serializers.Serializer):
    """Accept or decline the caller's invitation to this workspace."""

    workspace = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


# --- projects and experiments -------------------------------------------------------


class ProjectSerializer(serializers.ModelSerializer):
    experiment_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Project
        fields = [
            "id", "workspace", "name", "slug", "description", "created_by", "created_at", "experiment_count",
            "archived_at",
        ]  # fmt: skip
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
            "git_commit", "git_branch", "git_dirty", "git_workflow_state", "created_by", "created_at", "run_count",
            "archived_at",
        ]  # fmt: skip
        read_only_fields = fields


class ExperimentDetailSerializer(ExperimentSerializer):
    """An experiment with the uncommitted diff captured at creation and its task graph."""

    class Meta(ExperimentSerializer.Meta):
        fields = [*ExperimentSerializer.Meta.fields, "git_diff", "git_untracked", "topology"]
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
            "id", "number", "status", "params", "profile", "config_hash", "fingerprint", "results",
            "experiment", "experiment_name", "project", "project_name", "workspace", "workspace_name",
            "launched_by", "created_at", "started_at", "finished_at", "tags", "notes", "sweep_id",
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
        # ``run_list_with_executions`` prefetches them for a batch of runs; one run reads its own.
        rows = getattr(run, "execution_rows", None)
        return ExecutionSerializer(rows if rows is not None else execution_list(run=run), many=True).data


class RunUpdateSerializer(serializers.Serializer):
    """``PATCH /api/runs/{id}/`` (SPEC §14): tags and notes (editors and owners); both optional."""

    tags = serializers.ListField(child=serializers.CharField(max_length=64), max_length=32, required=False)
    notes = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=100_000,
                                  help_text="Markdown, rendered sanitised on the run page.")  # fmt: skip


class RunHistorySerializer(serializers.Serializer):
    """What happened to a run: every attempt with its tasks, and the ordered status events."""

    run = serializers.IntegerField(read_only=True)
    status = serializers.CharField(read_only=True)
    executions = ExecutionSerializer(many=True, read_only=True)
    events = RunEventSerializer(many=True, read_only=True, help_text="One page of status events, oldest first.")
    events_next = serializers.URLField(read_only=True, allow_null=True, help_text="The following page of events.")
    events_previous = serializers.URLField(read_only=True, allow_null=True, help_text="The preceding page of events.")


# --- launching and controlling runs ---------------------------------------------------


class LaunchSerializer(serializers.Serializer):
    """A launch request; it checks JSON types only, ``services.launch_plan`` checks the meaning."""

    profile = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False,
        help_text="Profile of the workflow's molcfg.yaml (``-`` and ``_`` are the same); empty: defaults only.",
    )  # fmt: skip
    overrides = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False, default=list, help_text="``KEY=VALUE`` with dot paths, e.g. ``optimizer.lr=5e-4``.",
    )  # fmt: skip
    params = serializers.DictField(
        required=False, allow_null=True, default=None, help_text="Run parameters (name → value); not with sweep."
    )
    sweep = serializers.DictField(
        required=False, allow_null=True, default=None,
        help_text="Axis → list of values; one run per cell of the Cartesian product; not with params.",
    )  # fmt: skip


class LaunchResultSerializer(serializers.Serializer):
    runs = RunDetailSerializer(many=True, read_only=True)
    warnings = serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text="What did not stop the launch but deserves a look: override keys no profile defines (with \"did you mean …?\").",
    )  # fmt: skip


class ExistingRunSerializer(serializers.Serializer):
    """A run that already used the previewed configuration."""

    id = serializers.IntegerField(read_only=True)
    number = serializers.IntegerField(read_only=True)
    status = serializers.CharField(read_only=True)
    experiment = serializers.IntegerField(source="experiment_id", read_only=True)
    experiment_name = serializers.CharField(source="experiment.name", read_only=True)
    url = serializers.SerializerMethodField(help_text="The run's page.")

    def get_url(self, run: Run) -> str:
        return run.get_absolute_url()


class PreviewCellSerializer(serializers.Serializer):
    params = serializers.JSONField(read_only=True)
    fingerprint = serializers.CharField(read_only=True)
    succeeded_run = ExistingRunSerializer(
        read_only=True, allow_null=True, help_text="The newest succeeded run with this fingerprint, if any."
    )


class LaunchPreviewSerializer(serializers.Serializer):
    """What a launch would do, resolved and validated but not written."""

    profile = serializers.CharField(read_only=True, help_text="Normalized profile name.")
    config = serializers.JSONField(read_only=True)
    config_hash = serializers.CharField(read_only=True)
    run_count = serializers.IntegerField(read_only=True, help_text="Runs the launch would create (sweep cells).")
    existing_runs = ExistingRunSerializer(
        many=True, read_only=True, help_text="Up to 10 runs of the same workspace with this config_hash, newest first."
    )
    existing_count = serializers.IntegerField(read_only=True)
    warnings = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Override keys no profile defines, as on launch."
    )
    snapshot_hash = serializers.CharField(read_only=True, help_text="Hash of the code bundle a launch would record.")
    cells = PreviewCellSerializer(
        many=True, read_only=True,
        help_text="Per sweep cell (the first MOLEXP_LAUNCH_PREVIEW_MAX_CELLS, default 100; run_count stays exact): its params, fingerprint and the succeeded run with that fingerprint.",
    )  # fmt: skip


class RunCloneSerializer(serializers.Serializer):
    """Edits for a clone: overrides on top of the source run's config, and params that replace its params."""

    overrides = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False, default=list
    )
    params = serializers.DictField(required=False, allow_null=True, default=None)


# --- workflows and metrics --------------------------------------------------------------


class WorkflowParameterSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    required = serializers.BooleanField(read_only=True)
    # Not read_only: drf-spectacular marks every read-only field required, but "default" is absent
    # for a required parameter (a schema violation schemathesis found in tests/security).
    default = serializers.JSONField(required=False, help_text="Absent when required.")


class WorkflowTaskSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    depends_on = serializers.ListField(child=serializers.CharField(), read_only=True)
    map_over = serializers.CharField(read_only=True, allow_null=True)
    parameters = WorkflowParameterSerializer(many=True, read_only=True)
    doc = serializers.CharField(read_only=True)


class WorkflowSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    order = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="Tasks in run order.")
    tasks = WorkflowTaskSerializer(many=True, read_only=True)
    topology_hash = serializers.CharField(read_only=True)


class WorkflowFileSerializer(serializers.Serializer):
    """A workflow file under ``MOLEXP_WORKFLOW_DIRS`` with its workflows and its molcfg.yaml profiles."""

    workflow_source = serializers.CharField(read_only=True, help_text="Path relative to its workflow directory.")
    workflows = WorkflowSerializer(many=True, read_only=True)
    profiles = serializers.ListField(child=serializers.CharField(), read_only=True)
    defaults = serializers.JSONField(read_only=True, help_text="The ``defaults`` of molcfg.yaml.")
    error = serializers.CharField(
        read_only=True, help_text="Why the file or its molcfg.yaml cannot be used; empty if fine."
    )


class MetricPointSerializer(serializers.Serializer):
    step = serializers.IntegerField(read_only=True, allow_null=True)
    value = serializers.SerializerMethodField(help_text="null for NaN and infinities (not representable in JSON).")
    time = serializers.DateTimeField(source="created_at", read_only=True)

    def get_value(self, point) -> float | None:
        return point.value if math.isfinite(point.value) else None


class MetricSeriesSerializer(serializers.Serializer):
    series = serializers.DictField(
        child=MetricPointSerializer(many=True), read_only=True,
        help_text="Key → points by step; at most 2000 per key (every n-th point, the last one always kept).",
    )  # fmt: skip
    counts = serializers.DictField(
        child=serializers.IntegerField(), read_only=True, help_text="Key → points recorded (before downsampling)."
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)
