"""Execution in the worker: claim an execution, run its snapshot with a ``RunContext``, record the outcome.

Called by the ``runs.execution_run`` task (``runs_app.tasks``) with an execution id.

Invariants:
- The worker claims an execution with a conditional transition (``queued → running``);
  a second delivery of the same message finds nothing to claim and does nothing.
- It executes the run's *snapshot* (the stored bundle, in isolated imports), never the
  file as it is now, and refuses a snapshot that came from a crate (SPEC §12) before
  any byte of it is loaded.
- Nothing written before a failure is lost: artifacts are committed as they are saved,
  logs and metrics are flushed (``RunContext.close``) before the outcome is recorded.
- The outcome is recorded once, in one transaction (``_finish``): a cancel request wins,
  and an execution already terminal (terminated, reaped) is left as recorded.
- Per-task rows are written only by the worker holding the claim, so they need no lock.
"""

from __future__ import annotations

import copy
import importlib.metadata
import logging
import os
import platform
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from assets_app import services as asset_services
from molexp_site.errors import IllegalTransition

from .. import snapshot as code_snapshot
from ..choices import ExecutionStatus, RunStatus, TaskStatus, Trigger
from ..models import Execution, Run, TaskExecution
from ..policy import run_code_refusal
from ..workflow.context import RECHECK_AFTER
from .core import status_transitions
from .durability import upsert_without_fsync_wait
from .execution_outputs import output_ref, outputs_reusable
from .reproduce import reproduction_verdict_compute

logger = logging.getLogger(__name__)

_environment_cache: dict | None = None


def _environment() -> dict:
    global _environment_cache
    if _environment_cache is None:
        packages = {}
        for dist in importlib.metadata.distributions():
            name = dist.metadata.get("Name")
            if name:
                packages[name] = dist.version
        _environment_cache = {
            "python": sys.version.split()[0],
            "python_implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "packages": dict(sorted(packages.items(), key=lambda kv: kv[0].lower())),
        }
    return {**_environment_cache, "hostname": socket.gethostname(), "pid": os.getpid()}


def _reconnect_if_broken(execution: Execution | None = None) -> None:
    """Drop this thread's connection if it broke (database restart); the next query reconnects.

    Outside a transaction only: closing inside one would lose it. Skipped for an ``execution``
    claimed less than ``RECHECK_AFTER`` ago.
    """
    if connection.in_atomic_block:
        return
    started = getattr(execution, "started_at", None)
    if started is not None and timezone.now() - started < RECHECK_AFTER:
        return
    close_old_connections()


class _TaskRecorder:
    """Engine hooks backed by TaskExecution rows (one row per task per execution)."""

    def __init__(self, *, execution: Execution, ctx, reused_refs: dict[str, dict] | None = None) -> None:
        self.execution = execution
        self.ctx = ctx
        self.reused_refs = reused_refs or {}

    def _save(self, name: str, **fields: Any) -> None:
        # Only the worker that claimed the execution writes its task rows (the claim is
        # exclusive), so they cannot race: no locked read or savepoint as in update_or_create,
        # and no wait for the WAL flush. Every write is one upsert that sets ``fields``: the
        # first inserts the row (unless an earlier delivery wrote it), later ones update only
        # ``fields`` of it, as an UPDATE would; one round trip each, no query compilation.
        upsert_without_fsync_wait(TaskExecution(execution=self.execution, task_name=name, **fields),
                                  unique_fields=["execution", "task_name"], update_fields=list(fields))  # fmt: skip

    def check_cancel(self) -> None:
        self.ctx.check_cancel()

    def task_started(self, name: str) -> None:
        self._save(name, status=TaskStatus.RUNNING, started_at=timezone.now())

    def task_succeeded(self, name: str, output: Any) -> None:
        # The task may have computed for minutes without touching the database; if the server
        # restarted meanwhile this thread's connection is dead: health-check it (reconnect) first.
        _reconnect_if_broken(self.execution)
        self.ctx.flush()
        self._save(name, status=TaskStatus.SUCCEEDED, finished_at=timezone.now(), output_ref=output_ref(output))

    def task_failed(self, name: str, exc: BaseException) -> None:
        from ..workflow import RunCancelled

        _reconnect_if_broken()  # the failure may be a lost connection: record it on a fresh one
        self.ctx.flush()
        status = TaskStatus.CANCELLED if isinstance(exc, RunCancelled) else TaskStatus.FAILED
        error = {"type": type(exc).__name__, "message": str(exc)[:4000]}
        self._save(name, status=status, finished_at=timezone.now(), error=error)

    def task_reused(self, name: str, output: Any) -> None:
        now = timezone.now()
        self._save(name, status=TaskStatus.SUCCEEDED, reused=True, started_at=now, finished_at=now,
                   output_ref=self.reused_refs.get(name))  # fmt: skip

    def task_skipped(self, name: str, reason: str) -> None:
        self._save(name, status=TaskStatus.SKIPPED, error={"type": "Skipped", "message": reason})


def _statuses(*, execution_id: int) -> tuple[str, str]:
    """``Execution.objects.filter(pk=…).values_list("status", "run__status").get()``, written out: the read
    is 0.1 ms, compiling it through the ORM was ≈ 0.5 ms of the worker's CPU per run (the same kind
    of written-out read as the launch's archive check). Raises ``Execution.DoesNotExist``."""
    qn = connection.ops.quote_name
    execution, run = Execution._meta, Run._meta
    sql = (
        f"SELECT e.{qn(execution.get_field('status').column)}, r.{qn(run.get_field('status').column)} "  # noqa: S608
        f"FROM {qn(execution.db_table)} e JOIN {qn(run.db_table)} r "
        f"ON r.{qn(run.pk.column)} = e.{qn(execution.get_field('run').column)} WHERE e.{qn(execution.pk.column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [execution_id])
        row = cursor.fetchone()
    if row is None:
        raise Execution.DoesNotExist(f"execution {execution_id} does not exist")
    return row[0], row[1]


def _finish(*, execution: Execution, run: Run, status: str, message: str, error: dict | None = None) -> None:
    """Record the end of an execution and its run in one transaction.

    A cancel request wins: an execution that was ``cancelling`` ends
    ``cancelled`` whatever its tasks did (the state machine has no
    cancelling → succeeded/failed). An execution already terminal (terminated
    after the grace period, or reaped as lost) is left as recorded.
    """
    _reconnect_if_broken(execution)  # a connection broken by a database restart would leave the run stuck running
    with transaction.atomic():
        # Only the two statuses can have changed since the claim (a cancel request, the reaper):
        # read them fresh, onto copies, instead of reloading both rows with every column.
        execution_status, run_status = _statuses(execution_id=execution.pk)
        execution, run = copy.copy(execution), copy.copy(run)
        execution.status, run.status = execution_status, run_status
        if execution.is_terminal:
            return
        if execution.status == ExecutionStatus.CANCELLING or run.status == RunStatus.CANCELLING:
            if status != ExecutionStatus.CANCELLED:
                message = f"{message} (after a cancel request)"
            status = ExecutionStatus.CANCELLED
        run_target = {
            ExecutionStatus.SUCCEEDED: RunStatus.SUCCEEDED,
            ExecutionStatus.FAILED: RunStatus.FAILED,
            ExecutionStatus.CANCELLED: RunStatus.CANCELLED,
        }[status]
        moves = [(execution, status, message, {"error": error})]
        if run.status in (RunStatus.RUNNING, RunStatus.CANCELLING):
            moves.append((run, run_target, message, {"error": error}))
        status_transitions(*moves)  # both events in one INSERT


def execution_run(*, execution_id: int) -> str:
    """Claim and execute one execution in this worker process; returns what happened.

    Steps: claim (``queued → running``, conditional), run ``queued → running``,
    record the environment, load the run's snapshot, run the engine with a
    ``RunContext``, then record ``succeeded``/``failed``/``cancelled`` with the
    structured error and an ``ErrorTraceAsset`` on failure. Safe to call twice
    with the same id: the second call finds nothing queued and returns.
    """
    from ..workflow import RunCancelled, WorkflowError
    from ..workflow.context import RunContext
    from ..workflow.engine import TaskFailed, execute
    from ..workflow.loader import load_workflows, pick_workflow

    # One row by its key: no ORDER BY to compile (``first()`` would add one). The experiment is not
    # joined: only the messages of a refusal or a cancel name it (then it is read when needed).
    found = Execution.objects.select_related("run", "run__source_blob").filter(pk=execution_id)
    execution = next(iter(found.order_by()[:1]), None)
    if execution is None:
        logger.warning("execution %s does not exist; message dropped", execution_id)
        return "missing"
    if execution.status != ExecutionStatus.QUEUED:
        logger.info("execution %s is %s; nothing to claim", execution_id, execution.status)
        return "not-queued"
    host, pid = settings.MOLEXP_WORKER_HOSTNAME or socket.gethostname(), os.getpid()
    # Read before the transaction (the first call scans the installed packages); the claiming
    # UPDATE writes it, one round trip fewer.
    environment = _environment()
    now = timezone.now()
    try:
        run = execution.run
        with transaction.atomic():
            status_transitions(
                (execution, ExecutionStatus.RUNNING, f"claimed by {host}:{pid}",
                 {"worker_hostname": host, "worker_pid": pid, "heartbeat_at": now, "started_at": now,
                  "celery_task_id": str(execution.uuid), "environment": environment}),
                (run, RunStatus.RUNNING, f"execution {execution.number} ({execution.trigger}) on {host}", {}),
            )  # fmt: skip
    except IllegalTransition as exc:
        logger.info("execution %s not claimed: %s", execution_id, exc)
        return "not-claimed"

    snapshot = run.workflow_snapshot or {}
    workdir = Path(settings.MOLEXP_WORK_DIR) / f"run-{run.pk}" / f"execution-{execution.number}"
    ctx = RunContext(run=run, execution=execution, workdir=workdir)
    ctx.start()
    outcome = "succeeded"
    try:
        try:
            # Before any byte of the snapshot is loaded: a crate's code never runs (SPEC §12).
            refusal = run_code_refusal(run=run)
            if refusal:
                raise WorkflowError(f"Refused: {refusal}")
            if run.source_blob is None:
                raise WorkflowError("The run has no stored workflow snapshot")
            filename = snapshot.get("workflow_source") or "workflow.py"
            source, import_paths = code_snapshot.execution_code(snapshot=snapshot, source_blob=run.source_blob)
            with code_snapshot.isolated_imports(*import_paths):  # only the bundle; nothing of an earlier run
                workflows = load_workflows(source, filename=filename)
                workflow = pick_workflow(workflows, snapshot.get("workflow_name") or None, filename=filename)
                reuse, refs = ({}, {})
                if execution.trigger == Trigger.RESUME:
                    reuse, refs = outputs_reusable(execution=execution)
                recorder = _TaskRecorder(execution=execution, ctx=ctx, reused_refs=refs)
                execute(workflow, ctx=ctx, params=run.params or {}, config=run.config or {}, hooks=recorder,
                        reuse=reuse)  # fmt: skip
        finally:
            ctx.close()  # flush logs and metrics before the outcome is recorded
    except RunCancelled:
        outcome = "cancelled"
        _finish(execution=execution, run=run, status=ExecutionStatus.CANCELLED, message="cancelled cooperatively")
    except TaskFailed as exc:
        outcome = "failed"
        _record_failure(execution=execution, run=run, task=exc.task, exc=exc.original)
    except WorkflowError as exc:
        outcome = "failed"
        _record_failure(execution=execution, run=run, task="", exc=exc)
    except BaseException as exc:  # soft time limit, worker shutdown, a bug: record it, then re-raise fatal ones
        outcome = "failed"
        _record_failure(execution=execution, run=run, task=ctx.task or "", exc=exc)
        if not isinstance(exc, Exception):
            raise
    else:
        _finish(execution=execution, run=run, status=ExecutionStatus.SUCCEEDED, message="all tasks succeeded")
    reproduction_verdict_compute(run=run)  # a reproduction (reproduction_of set) compares itself with its original
    return outcome


def _record_failure(*, execution: Execution, run: Run, task: str, exc: BaseException) -> None:
    _reconnect_if_broken()  # the failure may be the lost connection itself: record it on a fresh one
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    frames = [(fs.filename, fs.name) for fs in traceback.extract_tb(exc.__traceback__)]
    trace = asset_services.error_trace_create(
        run=run, execution=execution, task=task, exception_type=type(exc).__name__, message=str(exc),
        traceback_text=text, frames=frames,
    )  # fmt: skip
    error = {
        "type": type(exc).__name__,
        "message": str(exc)[:4000],
        "task": task or None,
        "execution": execution.number,
        "traceback_asset": trace.pk,
    }
    _finish(execution=execution, run=run, status=ExecutionStatus.FAILED,
            message=f"{task or 'workflow'} failed: {type(exc).__name__}", error=error)  # fmt: skip
