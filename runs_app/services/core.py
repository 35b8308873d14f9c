"""Writes of runs_app: the only code that changes workspaces, memberships, invitations,
projects, experiments, runs and executions.

Invariants:
- Every status change of a run or an execution goes through
  ``status_transition``: a conditional UPDATE that only succeeds from the status
  the caller saw, checked against ``RUN_TRANSITIONS``/``EXECUTION_TRANSITIONS``,
  and a ``RunEvent`` appended in the same transaction. An illegal or lost-race
  transition raises ``IllegalTransition`` and writes nothing.
- Permission checks happen here, not in views: HTML views, API views, commands
  and tasks call the same function and get the same answer.
- Celery messages are sent only after the transaction commits, and carry ids.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, router, transaction
from django.db.models.sql import UpdateQuery
from django.http import Http404
from django.utils import timezone
from django.utils.text import slugify

from molexp_site.errors import Conflict, IllegalTransition

from ..access import archive_require_active
from ..choices import (
    EXECUTION_TRANSITIONS,
    RUN_TRANSITIONS,
    AuditAction,
    EventSubject,
    Role,
)
from ..gitstate import git_capture
from ..models import AuditEvent, Execution, Experiment, Invitation, Membership, Project, Run, RunEvent, Workspace
from ..selectors import workflow_path_is_server_file, workflow_resolve, workspace_require_role  # noqa: F401 - re-exported
from ..snapshot import workflow_root
from .row_inserts import rows_insert

logger = logging.getLogger(__name__)

User = get_user_model()

#: Statuses after which a run or execution records ``finished_at``.
_FINISHED = {"succeeded", "failed", "cancelled", "lost"}


# --- status ---------------------------------------------------------------------


def status_transition(*, obj: Run | Execution, to_status: str, message: str = "", **fields: Any) -> Run | Execution:
    """Move a run or an execution to ``to_status`` and append a ``RunEvent``.

    ``fields`` are further columns written in the same UPDATE (``started_at``,
    ``error``, ``worker_hostname`` …). The UPDATE is conditional on the status
    ``obj`` holds, so two processes racing for the same change cannot both win.

    Raises ``IllegalTransition`` when the state machine forbids the move or when
    the row's status changed under us; nothing is written then.
    """
    status_transitions((obj, to_status, message, fields))
    return obj


def status_transitions(*moves: tuple[Run | Execution, str, str, dict[str, Any]]) -> None:
    """Several ``status_transition`` moves ``(obj, to_status, message, fields)`` in one transaction.

    Each move is checked and applied in order as ``status_transition`` does (a conditional
    UPDATE); their events are appended by one INSERT at the end, in the order of the moves.
    Raises ``IllegalTransition`` when any move is refused; nothing is written then, or, inside a
    caller's transaction, that transaction is marked for rollback if an earlier move was written.
    """
    planned = [_transition_plan(obj, to_status, fields) for obj, to_status, _message, fields in moves]
    if transaction.get_connection().in_atomic_block:
        # Inside the caller's transaction already: the UPDATEs and the events commit or roll back
        # with it, so no savepoint (two round trips) is needed. A lost race on the first move
        # raises before anything is written, so the caller's transaction stays usable.
        _transitions_write(moves, planned)
    else:
        with transaction.atomic():
            _transitions_write(moves, planned)
    for (obj, *_rest), (_label, _from_status, updates) in zip(moves, planned, strict=True):
        for key, value in updates.items():
            setattr(obj, key, value)


def _transition_plan(obj: Run | Execution, to_status: str, fields: dict[str, Any]) -> tuple[str, str, dict]:
    """``(label, from_status, updates)`` of one move, or ``IllegalTransition`` if the state machine forbids it."""
    is_run = isinstance(obj, Run)
    table = RUN_TRANSITIONS if is_run else EXECUTION_TRANSITIONS
    # Named as people name runs where the row at hand says so (SPEC §15); ids for internal rows.
    label = f"run #{obj.number}" if is_run else f"attempt {obj.number} of run id {obj.run_id}"
    from_status = obj.status
    if from_status not in table:
        raise IllegalTransition(f"{label} has unknown status {from_status!r}")
    if to_status not in table[from_status]:
        allowed = ", ".join(sorted(table[from_status])) or "none (final)"
        raise IllegalTransition(
            f"Illegal transition for {label}: {from_status} → {to_status}. Allowed from {from_status}: {allowed}."
        )
    now = timezone.now()
    updates: dict[str, Any] = {"status": to_status, **fields}
    if to_status in _FINISHED and "finished_at" not in fields:
        updates["finished_at"] = now
    if to_status == "running" and "started_at" not in fields:
        updates["started_at"] = now
    if is_run:
        updates["updated_at"] = now
    return label, from_status, updates


def _transitions_write(moves, planned) -> None:
    events = []
    for index, ((obj, to_status, message, _fields), (label, from_status, updates)) in enumerate(
        zip(moves, planned, strict=True)
    ):
        is_run = isinstance(obj, Run)
        model = type(obj)._meta.concrete_model
        # a run in the trash too (the base manager)
        changed = _update_if_status(model, pk=obj.pk, from_status=from_status, updates=updates)
        if changed != 1:
            current = model._base_manager.filter(pk=obj.pk).values_list("status", flat=True).first()
            if index:  # an earlier move is written: the caller's transaction must not commit it alone
                transaction.set_rollback(True)
            raise IllegalTransition(
                f"{label} is no longer {from_status} (now {current}); {from_status} → {to_status} not applied."
            )
        events.append(
            RunEvent(
                run_id=obj.pk if is_run else obj.run_id,
                execution_id=None if is_run else obj.pk,
                subject=EventSubject.RUN if is_run else EventSubject.EXECUTION,
                from_status=from_status,
                to_status=to_status,
                message=message,
            )
        )
    rows_insert(events)  # one INSERT, not compiled again for each transition


#: The SQL Django compiled for a conditional status UPDATE, per shape (see ``_update_if_status``).
_COMPILED_UPDATES: dict[tuple, str] = {}


def _same_param(a: Any, b: Any) -> bool:
    # JSON values are wrapped per call (psycopg's Jsonb): compare what they wrap.
    return type(a) is type(b) and getattr(a, "obj", a) == getattr(b, "obj", b)


def _update_if_status(model, *, pk: Any, from_status: str, updates: dict[str, Any]) -> int:
    """``model._base_manager.filter(pk=pk, status=from_status).update(**updates)``; returns the rows changed.

    The statement Django compiles is kept per shape (model, database, columns, which values are
    NULL) and re-used with the values prepared by the same fields (``get_db_prep_save``, as Django's
    update compiler prepares them): a transition then costs its round trip, not a query compilation
    (≈ 0.3 ms of CPU each; a run takes four in the worker). A shape is kept only when the parameters
    Django compiled are exactly those values; expressions and model instances always go through the ORM.
    """
    connection = connections[router.db_for_write(model)]
    prepared = []
    for name, value in updates.items():
        if hasattr(value, "resolve_expression") or hasattr(value, "prepare_database_save"):
            return model._base_manager.filter(pk=pk, status=from_status).update(**updates)
        prepared.append(model._meta.get_field(name).get_db_prep_save(value, connection=connection))
    params = [value for value in prepared if value is not None] + [pk, from_status]
    key = (model, connection.alias, tuple(updates), tuple(value is None for value in prepared))
    sql = _COMPILED_UPDATES.get(key)
    if sql is None:
        queryset = model._base_manager.using(connection.alias).filter(pk=pk, status=from_status)
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(updates)
        sql, compiled = query.get_compiler(connection.alias).as_sql()
        if len(compiled) != len(params) or not all(map(_same_param, compiled, params)):
            return queryset.update(**updates)
        _COMPILED_UPDATES[key] = sql
    with transaction.mark_for_rollback_on_error(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# --- workspaces and members -------------------------------------------------------


def _unique_slug(model, base: str, **parent: Any) -> str:
    base = slugify(base)[:90] or "item"
    slug, n = base, 1
    while model.all_objects.filter(slug=slug, **parent).exists():  # rows in the trash keep their slug
        n += 1
        slug = f"{base}-{n}"
    return slug


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A name is required."})
    if len(name) > 200:
        raise ValidationError({"name": "Names are at most 200 characters."})
    return name


def _check_slug(model, slug: str, **parent: Any) -> str:
    cleaned = slugify(slug)
    if cleaned != slug or not slug:
        raise ValidationError({"slug": f"'{slug}' is not a valid slug (lowercase letters, digits, - and _)."})
    if model.all_objects.filter(slug=slug, **parent).exists():
        raise ValidationError({"slug": f"'{slug}' is already taken here (perhaps by something in the trash)."})
    return slug


@transaction.atomic
def workspace_create(*, user, name: str, slug: str = "", description: str = "") -> Workspace:
    """Create a workspace; its creator becomes its owner. Any signed-in user may do this."""
    if not user.is_authenticated:
        raise ValidationError("Sign in to create a workspace.")
    name = _clean_name(name)
    slug = _check_slug(Workspace, slug) if slug else _unique_slug(Workspace, name)
    workspace = Workspace(name=name, slug=slug, description=description or "", created_by=user)
    workspace.full_clean()
    workspace.save()
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    return workspace


@transaction.atomic
def membership_set(*, actor, workspace: Workspace, username: str, role: str) -> Membership | Invitation:
    """Change a member's role, or invite anyone else to the workspace (owner or staff only).

    A member's role changes at once (``Membership``). Anyone else gets an ``Invitation``
    that they accept or decline (``invitation_accept``): nobody is made a member
    without consent, and the answer is the same whether an account with that name exists,
    so usernames cannot be enumerated. Raises ``ValidationError`` for an unknown role and
    ``Conflict`` when the change would leave the workspace without an owner.
    """
    workspace_require_role(user=actor, workspace=workspace, role=Role.OWNER)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use one of {', '.join(Role.values)}."})
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(workspace=workspace, user__username=username)
        .first()
    )
    if membership is None:
        return invitation_create(actor=actor, workspace=workspace, username=username, role=role)
    if membership.role == Role.OWNER and role != Role.OWNER:
        _require_another_owner(workspace=workspace, leaving=membership.user)
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    AuditEvent.objects.record(action=AuditAction.MEMBERSHIP_SET, actor=actor, workspace=workspace, obj=membership,
                              details={"username": username, "role": role, "previous_role": before})  # fmt: skip
    return membership


@transaction.atomic
def membership_remove(*, actor, workspace: Workspace, username: str) -> None:
    """Remove a member, or withdraw a pending invitation (owner only); the last owner cannot be removed."""
    workspace_require_role(user=actor, workspace=workspace, role=Role.OWNER)
    membership = Membership.objects.select_for_update().filter(workspace=workspace, user__username=username).first()
    if membership is None:
        withdrawn, _ = Invitation.objects.filter(workspace=workspace, username=username).delete()
        if withdrawn:
            AuditEvent.objects.record(action=AuditAction.MEMBERSHIP_REMOVE, actor=actor, workspace=workspace,
                                      object_type="runs_app.invitation", object_repr=f"invitation of {username}",
                                      details={"username": username, "invitation": True})  # fmt: skip
            return
        raise ValidationError({"username": f"{username!r} is not a member of this workspace."})
    if membership.role == Role.OWNER:
        _require_another_owner(workspace=workspace, leaving=membership.user)
    AuditEvent.objects.record(action=AuditAction.MEMBERSHIP_REMOVE, actor=actor, workspace=workspace, obj=membership,
                              details={"username": username, "role": membership.role})  # fmt: skip
    membership.delete()


def _require_another_owner(*, workspace: Workspace, leaving) -> None:
    others = Membership.objects.filter(workspace=workspace, role=Role.OWNER).exclude(user=leaving)
    if not others.exists():
        raise Conflict("A workspace needs at least one owner; make someone else owner first.")


# --- invitations -------------------------------------------------------------------
#
# Nobody becomes a member without accepting (issue 12). An owner's offer to someone who is not
# a member is one Invitation row per (workspace, username); the membership exists only once
# the invited user accepts. The row holds the name as text, so inviting a name no account has
# looks exactly like inviting a real user: usernames cannot be enumerated by inviting.
# Accepting or declining concerns only the caller's own invitation (workspace + their
# username); any other combination is the same 404.

NO_INVITATION = "You have no pending invitation to this workspace."


def invitation_create(*, actor, workspace, username: str, role: str) -> Invitation:
    """Invite ``username`` to ``workspace`` as ``role`` (the caller has checked that ``actor`` is an owner).

    A pending invitation for the same name gets the new role. Raises ``ValidationError``
    for a blank or over-long name. Writes one ``Invitation`` row.
    """
    username = (username or "").strip()
    if not username or len(username) > 150:
        raise ValidationError({"username": "Enter a username of at most 150 characters."})
    invitation, created = Invitation.objects.select_for_update().get_or_create(
        workspace=workspace, username=username, defaults={"role": role, "invited_by": actor}
    )
    if not created:
        invitation.role = role
        invitation.invited_by = actor
        invitation.save(update_fields=["role", "invited_by"])
    AuditEvent.objects.record(action=AuditAction.INVITATION_CREATE, actor=actor, workspace=workspace, obj=invitation,
                              details={"username": username, "role": role})  # fmt: skip
    return invitation


def _own_invitation(*, user, workspace_id: Any) -> Invitation:
    try:
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("workspace")
            .filter(workspace_id=int(workspace_id), username=user.get_username())
            .first()
        )
    except (TypeError, ValueError, OverflowError):
        invitation = None
    if invitation is None:
        raise Http404(NO_INVITATION)
    return invitation


@transaction.atomic
def invitation_accept(*, user, workspace_id: Any) -> Membership:
    """The caller accepts their invitation to a workspace: they become a member with its role.

    Deletes the invitation and creates the ``Membership`` (or keeps an existing one as it
    is). Raises ``Http404`` if the caller has no invitation to that workspace.
    """
    invitation = _own_invitation(user=user, workspace_id=workspace_id)
    membership, _ = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": Role(invitation.role)}
    )
    AuditEvent.objects.record(action=AuditAction.INVITATION_ACCEPT, actor=user, workspace=invitation.workspace,
                              obj=membership, details={"username": user.get_username(), "role": membership.role})  # fmt: skip
    invitation.delete()
    return membership


@transaction.atomic
def invitation_decline(*, user, workspace_id: Any) -> None:
    """The caller declines their invitation to a workspace (deletes it). ``Http404`` if there is none."""
    invitation = _own_invitation(user=user, workspace_id=workspace_id)
    AuditEvent.objects.record(action=AuditAction.INVITATION_DECLINE, actor=user, workspace=invitation.workspace,
                              obj=invitation, details={"username": user.get_username()})  # fmt: skip
    invitation.delete()


# --- projects and experiments -----------------------------------------------------


@transaction.atomic
def project_create(*, user, workspace: Workspace, name: str, slug: str = "", description: str = "") -> Project:
    """Create a project in a workspace (editor or owner); ``Conflict`` if the workspace is archived."""
    workspace_require_role(user=user, workspace=workspace, role=Role.EDITOR)
    archive_require_active(workspace=workspace)
    name = _clean_name(name)
    slug = _check_slug(Project, slug, workspace=workspace) if slug else _unique_slug(Project, name, workspace=workspace)
    project = Project(workspace=workspace, name=name, slug=slug, description=description or "", created_by=user)
    project.full_clean()
    project.save()
    return project


def experiment_create(
    *,
    user,
    project: Project,
    name: str,
    workflow_source: str,
    workflow_name: str = "",
    slug: str = "",
    description: str = "",
) -> Experiment:
    """Create an experiment (editor or owner) with the git state of its workflow file.

    Git is read before the transaction opens (slow I/O stays outside it).
    Raises ``ValidationError`` for an unknown or unsafe workflow path.
    """
    workspace_require_role(user=user, workspace=project.workspace, role=Role.EDITOR)
    archive_require_active(workspace=project.workspace, project=project)
    name = _clean_name(name)
    path = workflow_resolve(workflow_source)
    git = git_capture(path, root=workflow_root(workflow_source, path))  # the workflow's folder only (SPEC §12)
    with transaction.atomic():
        slug = (
            _check_slug(Experiment, slug, project=project) if slug else _unique_slug(Experiment, name, project=project)
        )
        experiment = Experiment(
            project=project,
            workspace_id=project.workspace_id,
            name=name,
            slug=slug,
            description=description or "",
            workflow_source=workflow_source.strip(),
            workflow_name=(workflow_name or "").strip(),
            git_commit=git.commit,
            git_branch=git.branch,
            git_dirty=git.dirty,
            git_diff=git.diff,
            git_untracked=git.untracked,
            git_workflow_state=git.workflow_state,
            created_by=user,
        )
        experiment.full_clean()
        try:
            experiment.save()
        except IntegrityError:
            raise ValidationError({"slug": f"'{slug}' is already taken in this project."}) from None
    return experiment


# --- API tokens -------------------------------------------------------------------


@transaction.atomic
def token_regenerate(*, user):
    """Replace the user's DRF API token with a new one and return it.

    The old key stops working at once. Raises ``PermissionDenied`` for an
    anonymous user.
    """
    from django.core.exceptions import PermissionDenied
    from rest_framework.authtoken.models import Token

    if not user.is_authenticated:
        raise PermissionDenied("Sign in to create an API token.")
    revoked, _ = Token.objects.filter(user_id=user.pk).delete()
    if revoked:
        AuditEvent.objects.record(action=AuditAction.TOKEN_REVOKE, actor=user, object_type="authtoken.token",
                                  object_repr=f"API token of {user.get_username()}")  # fmt: skip
    token = Token.objects.create(user=user)
    AuditEvent.objects.record(action=AuditAction.TOKEN_CREATE, actor=user, object_type="authtoken.token",
                              object_repr=f"API token of {user.get_username()}")  # fmt: skip
    return token


@transaction.atomic
def token_get_or_create(*, user):
    """The user's DRF API token, created (and recorded in the audit log, SPEC §14) on first use.

    ``POST /api/auth/token/`` calls this after checking the password; an existing token is
    returned as it is and records nothing.
    """
    from rest_framework.authtoken.models import Token

    token, created = Token.objects.get_or_create(user=user)
    if created:
        AuditEvent.objects.record(action=AuditAction.TOKEN_CREATE, actor=user, object_type="authtoken.token",
                                  object_repr=f"API token of {user.get_username()}",
                                  details={"via": "api/auth/token"})  # fmt: skip
    return token
