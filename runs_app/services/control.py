"""Run control: clone, rerun, resume, cancel, and the termination that follows a cancel (SPEC §5).

Invariants:
- Which action a run allows in its state is decided by ``runs_app.policy`` (the sets
  ``CANCELLABLE``/``RESTARTABLE``, imported runs, the provenance guard); the services
  here check it under the run's row lock, where the state cannot change under them.
- Every action needs the editor role (``workspace_require_role``: 403 viewer, 404 outsider).
- A restart (rerun, resume) adds an execution to the *same* run; a clone creates a new
  run through ``launch.runs_create``. Both dispatch after commit.
- Cancel is cooperative: a queued run is cancelled at once (its message revoked), a
  running one is asked to stop (``cancel_requested``) and terminated after
  ``MOLEXP_CANCEL_GRACE_SECONDS`` if it is still cancelling then.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from molexp_site.errors import Conflict, IllegalTransition

from ..access import archive_require_active_experiment
from ..choices import ExecutionStatus, Role, RunStatus, Trigger
from ..models import EventSubject, Execution, Run, RunEvent
from ..policy import RunAction, imported_refusal_message, run_action_require, run_require_server_code
from ..selectors import run_queued_counts, workspace_require_role
from . import dispatch, limits
from .core import status_transition
from .launch import launch_plan_from_run, runs_create

logger = logging.getLogger(__name__)


def run_clone(*, user, run: Run, overrides: list[str] | None = None, params: dict | None = None) -> Run:
    """A new run of the same experiment with the same snapshot and config, optionally edited, queued at once.

    ``overrides`` apply on top of the source run's config; ``params`` replace its params.
    Raises ``Conflict`` for an imported run (its code came from a crate and never runs).
    """
    workspace_require_role(user=user, workspace=run.workspace, role=Role.EDITOR)
    run_require_server_code(run=run)
    config = dict(run.config or {})
    if overrides:
        from ..profiles import ProfileError, apply_overrides, config_hash

        try:
            config = apply_overrides(config, overrides)
        except ProfileError as exc:
            raise ValidationError({"overrides": str(exc)}) from None
        digest = config_hash(config)
    else:
        digest = run.config_hash
    if params is not None and not isinstance(params, dict):
        raise ValidationError({"params": "params must be a JSON object."})
    plan = launch_plan_from_run(
        run=run,
        config=config,
        config_hash=digest,
        overrides=[*(run.overrides or []), *(overrides or [])],
        params=dict(params if params is not None else run.params or {}),
    )
    return runs_create(plan=plan, user=user, cloned_from=run)[0]


def _restart(*, user, run: Run, trigger: str) -> Execution:
    workspace_require_role(user=user, workspace=run.workspace, role=Role.EDITOR)
    run_require_server_code(run=run)
    archive_require_active_experiment(experiment_id=run.experiment_id)  # SPEC §14: archived is read-only
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        run_action_require(run=run, action=RunAction(trigger))
        limits.queued_runs_check(queued=run_queued_counts(user=user, workspace_id=run.workspace_id), adding=1)
        number = (run.executions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        execution = Execution.objects.create(run=run, number=number, trigger=trigger)
        RunEvent.objects.create(run=run, execution=execution, subject=EventSubject.EXECUTION, from_status="",
                                to_status=ExecutionStatus.QUEUED, message=trigger)  # fmt: skip
        fields: dict[str, Any] = {"error": None, "cancel_requested": False, "finished_at": None}
        if trigger == Trigger.RERUN:
            fields["results"] = {}
        status_transition(obj=run, to_status=RunStatus.QUEUED, message=f"{trigger} by {user}", **fields)
        dispatch.execution_dispatch([(execution.pk, str(execution.uuid))])
    return execution


def run_rerun(*, user, run: Run) -> Execution:
    """A new execution from the top (only from failed, cancelled or lost); raises ``Conflict`` otherwise."""
    return _restart(user=user, run=run, trigger=Trigger.RERUN)


def run_resume(*, user, run: Run) -> Execution:
    """A new execution reusing outputs of tasks that succeeded before (only from failed, cancelled or lost)."""
    return _restart(user=user, run=run, trigger=Trigger.RESUME)


def run_cancel(*, user, run: Run) -> Run:
    """Cancel a run: at once if queued, cooperatively if running (then terminated after a grace period).

    Raises ``Conflict`` for a run that already ended.
    """
    workspace_require_role(user=user, workspace=run.workspace, role=Role.EDITOR)
    if run.imported:  # row-local and final: refused before taking the lock
        raise Conflict(imported_refusal_message(number=run.number, experiment=run.experiment.name))
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        execution = run.executions.order_by("-number").first()
        if run.status == RunStatus.CANCELLING:
            return run  # asked already: a second request is a no-op
        run_action_require(run=run, action=RunAction.CANCEL)  # queued or running, else Conflict
        if run.status == RunStatus.QUEUED:
            if execution is not None and execution.status == ExecutionStatus.QUEUED:
                status_transition(obj=execution, to_status=ExecutionStatus.CANCELLED, message=f"cancelled by {user}")
            status_transition(obj=run, to_status=RunStatus.CANCELLED, message=f"cancelled by {user}",
                              cancel_requested=True)  # fmt: skip
            task_id = str(execution.uuid) if execution else None
            if task_id:
                transaction.on_commit(lambda: _revoke(task_id, terminate=False))
            return run
        # Running: ask the worker to stop (RunContext checks the flag), terminate after the grace period.
        Run.objects.filter(pk=run.pk).update(cancel_requested=True)
        if execution is not None and execution.status == ExecutionStatus.RUNNING:
            status_transition(obj=execution, to_status=ExecutionStatus.CANCELLING, message=f"cancel by {user}")
        status_transition(obj=run, to_status=RunStatus.CANCELLING, message=f"cancel requested by {user}")
        if execution is not None:
            execution_id = execution.pk
            transaction.on_commit(lambda: _schedule_terminate(execution_id))
        return run


def _revoke(task_id: str, *, terminate: bool) -> None:
    from molexp_site.celery import app

    try:
        app.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
    except Exception:
        logger.exception("revoke %s failed", task_id)


def _schedule_terminate(execution_id: int) -> None:
    from molexp_site.celery import app

    try:
        app.send_task(
            "runs.execution_terminate",
            kwargs={"execution_id": execution_id},
            countdown=settings.MOLEXP_CANCEL_GRACE_SECONDS,
            queue="default",
        )
    except Exception:
        logger.exception("could not schedule termination of execution %s", execution_id)


def execution_terminate(*, execution_id: int) -> bool:
    """After the grace period: if the execution is still cancelling, kill it and record the cancellation."""
    execution = Execution.objects.select_related("run").filter(pk=execution_id).first()
    if execution is None or execution.status != ExecutionStatus.CANCELLING:
        return False
    _revoke(str(execution.uuid), terminate=True)
    try:
        with transaction.atomic():
            status_transition(
                obj=execution, to_status=ExecutionStatus.CANCELLED, message="terminated after grace period"
            )
            run = Run.all_objects.get(pk=execution.run_id)  # deleting a run cancels it first
            if run.status == RunStatus.CANCELLING:
                status_transition(obj=run, to_status=RunStatus.CANCELLED, message="terminated after grace period")
    except IllegalTransition:
        return False  # the worker recorded the cancellation itself meanwhile
    return True
