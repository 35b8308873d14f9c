"""Enumerations of runs_app (roles, statuses, triggers)."""

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    OWNER = "owner", "Owner"


#: Rank used to compare roles: a role satisfies every role at or below it.
ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    CANCELLING = "cancelling", "Cancelling"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    LOST = "lost", "Lost"


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    CANCELLING = "cancelling", "Cancelling"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    LOST = "lost", "Lost"


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


class Trigger(models.TextChoices):
    LAUNCH = "launch", "Launch"
    RERUN = "rerun", "Rerun"
    RESUME = "resume", "Resume"
    RETRY = "retry", "Retry"
    #: Recorded by the molexp client outside MolExp's workers (SPEC §13); never retried by the server.
    EXTERNAL = "external", "External"


class EventSubject(models.TextChoices):
    RUN = "run", "Run"
    EXECUTION = "execution", "Execution"


_S = RunStatus
#: Legal run transitions (SPEC §3). Re-queueing from failed/cancelled/lost is how a
#: rerun, resume or lost-retry starts a new execution; lost → failed ends a run whose
#: retries are used up; queued → cancelled cancels a run before a worker took it.
RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    _S.PENDING: frozenset({_S.QUEUED, _S.CANCELLED}),
    _S.QUEUED: frozenset({_S.RUNNING, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.CANCELLING, _S.CANCELLED, _S.LOST}),
    _S.CANCELLING: frozenset({_S.CANCELLED, _S.LOST}),
    _S.SUCCEEDED: frozenset(),
    _S.FAILED: frozenset({_S.QUEUED}),
    _S.CANCELLED: frozenset({_S.QUEUED}),
    _S.LOST: frozenset({_S.QUEUED, _S.FAILED}),
}

_E = ExecutionStatus
#: Legal execution transitions. An execution is one attempt: its terminal states are final.
EXECUTION_TRANSITIONS: dict[str, frozenset[str]] = {
    _E.QUEUED: frozenset({_E.RUNNING, _E.CANCELLED}),
    _E.RUNNING: frozenset({_E.SUCCEEDED, _E.FAILED, _E.CANCELLING, _E.CANCELLED, _E.LOST}),
    _E.CANCELLING: frozenset({_E.CANCELLED, _E.LOST}),
    _E.SUCCEEDED: frozenset(),
    _E.FAILED: frozenset(),
    _E.CANCELLED: frozenset(),
    _E.LOST: frozenset(),
}

TERMINAL_RUN_STATUSES = frozenset({_S.SUCCEEDED, _S.FAILED, _S.CANCELLED, _S.LOST})
ACTIVE_RUN_STATUSES = frozenset({_S.PENDING, _S.QUEUED, _S.RUNNING, _S.CANCELLING})


class AuditAction(models.TextChoices):
    """What an ``AuditEvent`` records (SPEC §14): security-relevant actions only."""

    MEMBERSHIP_SET = "membership.set", "Member added or role changed"
    MEMBERSHIP_REMOVE = "membership.remove", "Member removed"
    INVITATION_CREATE = "invitation.create", "Invitation sent"
    INVITATION_ACCEPT = "invitation.accept", "Invitation accepted"
    INVITATION_DECLINE = "invitation.decline", "Invitation declined"
    TOKEN_CREATE = "token.create", "API token created"
    TOKEN_REVOKE = "token.revoke", "API token revoked"
    CRATE_IMPORT = "crate.import", "RO-Crate imported"
    CRATE_EXPORT = "crate.export", "RO-Crate exported"
    ALIAS_SET = "alias.set", "Alias set"
    ALIAS_MOVE = "alias.move", "Alias moved"
    QUOTA_SET = "quota.set", "Storage quota changed"
    GC_PURGE = "gc.purge", "Unreferenced bytes freed"
    RENAME = "object.rename", "Renamed"
    UPDATE = "object.update", "Description or workflow changed"
    ARCHIVE = "object.archive", "Archived"
    UNARCHIVE = "object.unarchive", "Unarchived"
    RETENTION_SET = "retention.set", "Retention policy changed"
    RETENTION_REMOVE = "retention.remove", "Removed by a retention policy"
    TRASH_DELETE = "trash.delete", "Deleted (into the trash)"
    TRASH_RESTORE = "trash.restore", "Restored from the trash"
    TRASH_PURGE = "trash.purge", "Purged from the trash"
