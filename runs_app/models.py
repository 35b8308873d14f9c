"""The record model of runs_app: workspaces and their members, projects,
experiments, runs, executions (attempts), task executions, run events and metrics.

Rows here are the source of truth for what happened; Celery only carries ids.
Status fields are changed only by ``runs_app.services.status_transition``, which
refuses illegal moves and appends a ``RunEvent`` for every legal one.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from molexp_site.audit_context import current_client

from .choices import (
    TERMINAL_RUN_STATUSES,
    AuditAction,
    EventSubject,
    ExecutionStatus,
    Role,
    RunStatus,
    TaskStatus,
    Trigger,
)
from .trash_models import LiveManager, TrashEntry, trash_index


class Workspace(models.Model):
    """A team's space: members with roles, projects, and one asset catalog.

    ``workspace.data_assets`` (its data library) is installed by ``assets_app.apps``, like
    ``project.data_assets`` and ``experiment.data_assets``: models never import assets services.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")
    storage_quota_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="SPEC §14: physical asset bytes this workspace may hold (empty: no bound).",
    )
    archived_at = models.DateTimeField(
        null=True, blank=True, help_text="SPEC §14: archived (hidden from lists, read-only) since then; empty: active."
    )
    trash = models.ForeignKey(TrashEntry, null=True, blank=True, editable=False, on_delete=models.CASCADE, db_index=False,
                              related_name="+", help_text="Set while in the trash (SPEC §14).")  # fmt: skip

    objects = LiveManager()
    all_objects = models.Manager()

    class Meta:
        ordering = ["name"]
        indexes = [trash_index("workspace")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("runs:workspace-detail", kwargs={"ws": self.slug})


class Membership(models.Model):
    """A user's role in one workspace: viewer reads, editor launches and uploads, owner manages."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")]
        indexes = [models.Index(fields=["user", "workspace"], name="membership_user_ws")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} as {self.role}"


class Invitation(models.Model):
    """An owner's offer of a role in a workspace to a username; it becomes a membership when its user accepts.

    Keyed by username text, not by user, so inviting a name that no account has looks and
    behaves exactly like inviting one that does (usernames cannot be enumerated by inviting).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    username = models.CharField(max_length=150)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "username"], name="invitation_unique_username")]
        indexes = [models.Index(fields=["username", "workspace"], name="invitation_username_ws")]

    def __str__(self) -> str:
        return f"{self.username} invited to {self.workspace} as {self.role}"


class Project(models.Model):
    """A line of research inside a workspace; holds experiments and a data library."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    archived_at = models.DateTimeField(
        null=True, blank=True, help_text="SPEC §14: archived (hidden from lists, read-only) since then; empty: active."
    )
    trash = models.ForeignKey(TrashEntry, null=True, blank=True, editable=False, on_delete=models.CASCADE, db_index=False,
                              related_name="+", help_text="Set while in the trash (SPEC §14).")  # fmt: skip

    objects = LiveManager()
    all_objects = models.Manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "slug"], name="project_unique_slug")]
        indexes = [trash_index("project")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("runs:project-detail", kwargs={"ws": self.workspace.slug, "project": self.slug})


class Experiment(models.Model):
    """One workflow under study in a project, with the git state captured at creation.

    ``workflow_source`` is the workflow file's path relative to a configured
    workflow directory; ``workflow_name`` picks one workflow when the file
    defines several. ``topology`` is the task graph read in a subprocess.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="experiments")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    workflow_source = models.CharField(max_length=500, blank=True)
    workflow_name = models.CharField(max_length=200, blank=True)
    topology = models.JSONField(default=dict, blank=True)
    git_commit = models.CharField(max_length=64, blank=True)
    git_branch = models.CharField(max_length=255, blank=True)
    git_dirty = models.BooleanField(null=True, blank=True)
    git_diff = models.TextField(blank=True)
    git_untracked = models.JSONField(
        default=list, blank=True, help_text="Untracked files under the workflow root at creation (SPEC §12)."
    )
    git_workflow_state = models.CharField(
        max_length=10, blank=True, help_text="committed, modified or untracked (in no commit); empty: no repository."
    )
    run_counter = models.PositiveIntegerField(default=0, help_text="Last run number handed out.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    archived_at = models.DateTimeField(
        null=True, blank=True, help_text="SPEC §14: archived (hidden from lists, read-only) since then; empty: active."
    )
    trash = models.ForeignKey(TrashEntry, null=True, blank=True, editable=False, on_delete=models.CASCADE, db_index=False,
                              related_name="+", help_text="Set while in the trash (SPEC §14).")  # fmt: skip

    objects = LiveManager()
    all_objects = models.Manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="experiment_unique_slug")]
        indexes = [trash_index("experiment")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse(
            "runs:experiment-detail",
            kwargs={"ws": self.workspace.slug, "project": self.project.slug, "experiment": self.slug},
        )


class SourceBlob(models.Model):
    """Workflow source bytes, stored once per SHA-256 and shared by every run that snapshot them."""

    sha256 = models.CharField(max_length=64, unique=True)
    content = models.BinaryField()
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256[:12]


class Run(models.Model):
    """One run of an experiment: its sweep cell, profile, merged config and record.

    ``workflow_snapshot`` holds what the worker executes and what makes the run
    reproducible: source sha256 (bytes in ``SourceBlob``), topology hash, the
    workflow path and name, and the git commit/branch/dirty flag/diff at launch.
    ``workspace`` and ``project`` repeat the experiment's keys so that
    permission-scoped lists need no joins.
    """

    # No plain index on ``experiment`` or ``workspace``: the composite indexes below lead with them.
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs", db_index=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="runs", db_index=False)
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.PENDING)
    params = models.JSONField(default=dict, blank=True)
    profile = models.CharField(max_length=200, blank=True)
    config = models.JSONField(default=dict, blank=True)
    config_hash = models.CharField(max_length=64, blank=True)
    fingerprint = models.CharField(
        max_length=64, blank=True, help_text="SPEC §12: snapshot, workflow, config hash and params."
    )
    overrides = models.JSONField(default=list, blank=True)
    workflow_snapshot = models.JSONField(default=dict, blank=True)
    source_blob = models.ForeignKey(SourceBlob, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    results = models.JSONField(default=dict, blank=True)
    error = models.JSONField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    cloned_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="clones")
    reproduction_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reproductions",
        help_text="The run this one re-executes to check that it reproduces.",
    )
    input_pins = models.JSONField(
        default=dict,
        blank=True,
        help_text="Asset name → asset id that find_asset must return (a reproduction uses the exact inputs).",
    )
    verdict = models.JSONField(
        null=True, blank=True, help_text="For a reproduction: how it compares with the original run."
    )
    imported = models.JSONField(
        null=True, blank=True, help_text="Set when the run came from an imported crate: read-only record."
    )
    tags = models.JSONField(default=list, blank=True, help_text="SPEC §14: labels (`tag:keep` in the run conditions).")
    notes = models.TextField(blank=True, help_text="SPEC §14: Markdown, rendered sanitised on the run page.")
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sweep_id = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="The launch request that created the run: the runs of one sweep share it (null before 0010).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    trash = models.ForeignKey(TrashEntry, null=True, blank=True, editable=False, on_delete=models.CASCADE, db_index=False,
                              related_name="+", help_text="Set while in the trash (SPEC §14).")  # fmt: skip

    objects = LiveManager()
    all_objects = models.Manager()

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["experiment", "number"], name="run_unique_number")]
        indexes = [
            trash_index("run"),
            models.Index(fields=["experiment", "-id"], name="run_exp_id"),
            # Run lists are ordered (created_at desc, id desc) and keyset-paginated (SPEC §11):
            # one index per list scope, so a page (any depth) is one index range scan.
            models.Index(fields=["experiment", "-created_at", "-id"], name="run_exp_created_id"),
            models.Index(fields=["experiment", "status", "-created_at", "-id"], name="run_exp_status_created_id"),
            models.Index(fields=["workspace", "-created_at", "-id"], name="run_ws_created_id"),
            models.Index(fields=["workspace", "status", "-created_at", "-id"], name="run_ws_status_created_id"),
            models.Index(fields=["-created_at", "-id"], name="run_created_id"),
            models.Index(fields=["workspace", "config_hash"], name="run_ws_config_hash"),
            # The live runs of a workspace: an exact count of a run list (which hides the trash) is an
            # index-only scan, not a read of every run's row (issue 13: 6.3 → 2.2 ms of execution, 10 000 runs).
            models.Index(fields=["workspace"], condition=models.Q(trash__isnull=True), name="run_ws_live"),
            # The per-user queue bound (services/limits.py) counts a user's queued runs on every launch.
            models.Index(fields=["launched_by"], condition=models.Q(status="queued"), name="run_queued_by_user"),
            # One index serves ``fingerprint =``, ``IN (…)`` and the prefix match of ``fingerprint:``
            # (``varchar_pattern_ops`` on PostgreSQL; a plain index elsewhere), one write per new run.
            models.Index(fields=["fingerprint"], name="run_fingerprint", opclasses=["varchar_pattern_ops"]),
            # /metrics counts runs by status on every scrape: an index-only scan, not a table scan.
            models.Index(fields=["status"], name="run_status"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment} #{self.number}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    def get_absolute_url(self) -> str:
        """The human URL; callers select_related experiment, project and workspace."""
        return reverse(
            "runs:run-detail",
            kwargs={
                "ws": self.workspace.slug,
                "project": self.project.slug,
                "experiment": self.experiment.slug,
                "number": self.number,
            },
        )


class Execution(models.Model):
    """One attempt at a run (launch, rerun, resume or retry) on one worker."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="executions")
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.LAUNCH)
    status = models.CharField(max_length=12, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED)
    worker_hostname = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    environment = models.JSONField(default=dict, blank=True)
    error = models.JSONField(null=True, blank=True)
    client_seq = models.PositiveBigIntegerField(
        default=0,
        help_text="External runs: the last write batch applied (the client numbers them; a resend is a no-op).",
    )

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="execution_unique_number")]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="execution_status_heartbeat"),
            models.Index(fields=["status", "queued_at"], name="execution_status_queued"),
        ]

    def __str__(self) -> str:
        return f"{self.run} attempt {self.number}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES


class TaskExecution(models.Model):
    """One task of the workflow inside one execution; ``reused`` marks outputs taken over by a resume."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="task_executions")
    task_name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    reused = models.BooleanField(default=False)
    output_ref = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["execution", "id"]
        constraints = [models.UniqueConstraint(fields=["execution", "task_name"], name="task_execution_unique_name")]

    def __str__(self) -> str:
        return f"{self.task_name} ({self.status})"


class RunEvent(models.Model):
    """An append-only record of one status change of a run or of one of its executions."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    execution = models.ForeignKey(Execution, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    subject = models.CharField(max_length=10, choices=EventSubject.choices, default=EventSubject.RUN)
    created_at = models.DateTimeField(auto_now_add=True)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "id"], name="runevent_run_id")]

    def __str__(self) -> str:
        return f"{self.subject} {self.from_status or '∅'} → {self.to_status}"


class Metric(models.Model):
    """One point of a named metric series of a run (optionally at a step)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics")
    execution = models.ForeignKey(Execution, null=True, blank=True, on_delete=models.CASCADE, related_name="metrics")
    key = models.CharField(max_length=200)
    step = models.BigIntegerField(null=True, blank=True)
    value = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "key", "step", "id"]
        indexes = [models.Index(fields=["run", "key", "step"], name="metric_run_key_step")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class ScopedToken(models.Model):
    """An API token limited to one workspace and a maximum role, with an expiry (SPEC §13).

    Only the SHA-256 of the key is stored; the key is shown once at creation. The
    scope is applied where roles are computed (``access.workspace_role`` and
    ``visible_workspace_ids``), so every endpoint honours it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scoped_tokens")
    name = models.CharField(max_length=100)
    key_sha256 = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The key's first characters, to recognise it in lists.")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="scoped_tokens")
    max_role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="scopedtoken_ws_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) for {self.workspace_id} as ≤{self.max_role}"


class AuditEventManager(models.Manager):
    def record(
        self,
        *,
        action: str,
        actor=None,
        workspace: Workspace | None = None,
        obj: models.Model | None = None,
        object_type: str = "",
        object_id: str | int = "",
        object_repr: str = "",
        details: dict | None = None,
        client: str | None = None,
    ) -> AuditEvent:
        """Append one event (the single code path for every audited action; SPEC §14).

        ``obj`` fills the object's type, id and text unless they are given; ``client``
        defaults to the address of the request being served (``molexp_site.audit_context``).
        """
        if obj is not None:
            object_type = object_type or obj._meta.label_lower
            object_id = object_id or obj.pk
            object_repr = object_repr or str(obj)
        actor = actor if getattr(actor, "is_authenticated", False) else None
        return self.create(
            action=action,
            actor=actor,
            actor_name=actor.get_username() if actor is not None else "",
            workspace=workspace,
            object_type=object_type[:100],
            object_id=str(object_id)[:64],
            object_repr=object_repr[:255],
            details=details or {},
            client=(current_client() if client is None else client)[:64],
        )


class AuditEvent(models.Model):
    """One security-relevant action (SPEC §14), append-only: who did what to which object, when and from where.

    ``actor_name`` keeps the username if the user is deleted later; ``workspace`` is empty
    for events outside any workspace (a garbage collection, a token), which staff alone read.
    """

    action = models.CharField(max_length=40, choices=AuditAction.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")  # fmt: skip
    actor_name = models.CharField(max_length=150, blank=True)
    workspace = models.ForeignKey(Workspace, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="audit_events")  # fmt: skip
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    client = models.CharField(max_length=64, blank=True, help_text="The client's address (REMOTE_ADDR).")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditEventManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The log is keyset-paginated newest first, per workspace (owners) or whole (staff).
            models.Index(fields=["workspace", "-created_at", "-id"], name="audit_ws_created_id"),
            models.Index(fields=["-created_at", "-id"], name="audit_created_id"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")


class RunTablePreference(models.Model):
    """The columns a user hides in one experiment's runs table (SPEC §15's column chooser)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    hidden = models.JSONField(default=list, blank=True, help_text="Column keys (config.lr, metrics.loss, …) not shown.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "experiment"], name="runtablepref_unique_user_experiment")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.experiment}: {len(self.hidden)} hidden"


# SPEC §14's slug history and retention policies live in their own module (this one is at its size limit).
from .models_lifecycle import RetentionPolicy, SlugRedirect  # noqa: E402, F401
from .models_ops import ServiceHeartbeat  # noqa: E402, F401
