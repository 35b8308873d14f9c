"""Rows of an imported run record (RO-Crate import, SPEC §3): project, experiment, run and its history.

Split of the crate feature: ``runs_app.crate.importer`` reads and checks the
crate (zip safety, checksums, metadata), stores the asset bytes and rows
through ``assets_app.services``, and calls :func:`run_import_create` here for
every ``runs_app`` row, so each app's rows are written by its own services.

Invariants:
- Called inside the importer's transaction: either the whole record is
  created or nothing is.
- The run is terminal and marked ``imported``; its executions are terminal,
  so neither the reaper nor the reconciler ever picks them up, and the
  control services refuse it (409).
- Times (run, executions, task executions, events, metrics) are the
  original ones, not the import time.
- Nothing imported can become code that runs (SPEC §12): the run is marked
  ``imported`` (``runs_app.policy`` refuses every re-use of its snapshot,
  in the services and in the worker) and task output references keep inline
  JSON only, never a pickled blob name.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify

from ..access import archive_require_active_experiment
from ..choices import TERMINAL_RUN_STATUSES, AuditAction, EventSubject, ExecutionStatus, TaskStatus, Trigger
from ..models import (
    AuditEvent,
    Execution,
    Experiment,
    Metric,
    Project,
    Run,
    RunEvent,
    SourceBlob,
    TaskExecution,
    Workspace,
)

MAX_NAME = 200


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"Bad timestamp in the crate: {value!r}.")
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValidationError(f"Bad timestamp in the crate: {value!r}.")
    return parsed


def _text(value: Any, limit: int = MAX_NAME) -> str:
    return str(value or "")[:limit]


def _record_only_ref(ref: Any) -> dict | None:
    """A task's output reference as a record only: inline JSON is kept, a pickled blob never is.

    A crate could name any blob as a "pickle" output; loading it (resume) would run code.
    Imported runs are never resumed, and their references cannot point at a blob either.
    """
    if not isinstance(ref, dict):
        return None
    if "json" in ref:
        return {"json": ref["json"]}
    kept = {k: ref[k] for k in ("sha256", "size", "format") if isinstance(ref.get(k), (str, int))}
    return {**kept, "unavailable": "imported: the output's bytes stay with the original record"}


def _choice(value: Any, choices: list[str], default: str) -> str:
    return value if value in choices else default


def _project_for(*, workspace: Workspace, project: Project | None, name: str, user) -> Project:
    if project is not None:
        return project
    name = _text(name) or "Imported runs"
    slug = slugify(name)[:100] or "imported"
    if Project.all_objects.filter(workspace=workspace, slug=slug, trash__isnull=False).exists():
        raise ValidationError(f"Project '{slug}' is in the trash: restore or purge it before importing into it.")
    found, _ = Project.objects.get_or_create(
        workspace=workspace, slug=slug, defaults={"name": name, "created_by": user if user else None}
    )
    return found


def _experiment_for(*, project: Project, record: dict, user) -> Experiment:
    exp = record.get("experiment") or {}
    name = _text(exp.get("name")) or "Imported experiment"
    slug = slugify(exp.get("slug") or name)[:100] or "imported"
    if Experiment.all_objects.filter(project=project, slug=slug, trash__isnull=False).exists():
        raise ValidationError(f"Experiment '{slug}' is in the trash: restore or purge it before importing into it.")
    found, _ = Experiment.objects.get_or_create(
        project=project,
        slug=slug,
        defaults={
            "workspace_id": project.workspace_id,
            "name": name,
            "description": _text(exp.get("description"), 10_000),
            "workflow_source": _text(exp.get("workflow_source"), 500),
            "workflow_name": _text(exp.get("workflow_name")),
            "topology": exp.get("topology") if isinstance(exp.get("topology"), dict) else {},
            "git_commit": _text(exp.get("git_commit"), 64),
            "git_branch": _text(exp.get("git_branch"), 255),
            "git_dirty": exp.get("git_dirty") if isinstance(exp.get("git_dirty"), bool) else None,
            "git_diff": str(exp.get("git_diff") or ""),
            "created_by": user if user else None,
        },
    )
    return found


def run_import_check(record: dict) -> None:
    """Parse every value ``run_import_create`` would parse, writing nothing; raise ``ValidationError`` on the first bad one.

    The crate importer calls this before it stores any byte, so a crate refused for a
    bad timestamp, execution number or metric value leaves no blob behind.
    """
    data = record.get("run") or {}
    if data.get("status") not in TERMINAL_RUN_STATUSES:
        raise ValidationError(f"Only finished runs can be imported; this crate's run is {data.get('status')!r}.")
    for key in ("started_at", "finished_at", "created_at"):
        _when(data.get(key))
    for ex in record.get("executions") or []:
        if ex.get("status") not in TERMINAL_RUN_STATUSES:
            raise ValidationError("Only finished runs can be imported; an execution in the crate is not finished.")
        int(ex.get("number") or 0)
        for key in ("dispatched_at", "started_at", "finished_at", "heartbeat_at", "queued_at"):
            _when(ex.get(key))
        for task in ex.get("tasks") or []:
            _when(task.get("started_at"))
            _when(task.get("finished_at"))
    for event in record.get("events") or []:
        _when(event.get("created_at"))
    for point in record.get("metrics") or []:
        _metric_value(point.get("value"))
        _when(point.get("created_at"))


def run_import_create(
    *,
    user,
    workspace: Workspace,
    project: Project | None,
    record: dict,
    source: bytes | None,
    source_sha256: str,
    imported: dict,
) -> tuple[Run, dict[int, Execution]]:
    """Create the imported run's rows from a crate's MolExp record (a dict, already checked for shape).

    Creates (or reuses, by slug) the project and experiment named in the record
    inside ``workspace`` (or uses ``project``), a ``SourceBlob`` for the snapshot
    bytes (shared by sha256), the ``Run`` marked ``imported``, and its executions,
    task executions, events and metrics with their original times. Returns the
    run and a map original execution number → new ``Execution`` (for asset producers).
    Raises ``ValidationError`` for a record that is not a finished run.
    """
    data = record.get("run") or {}
    status = data.get("status")
    if status not in TERMINAL_RUN_STATUSES:
        raise ValidationError(f"Only finished runs can be imported; this crate's run is {status!r}.")
    executions = record.get("executions") or []
    for ex in executions:
        if ex.get("status") not in TERMINAL_RUN_STATUSES:
            raise ValidationError("Only finished runs can be imported; an execution in the crate is not finished.")
    with transaction.atomic():
        project = _project_for(workspace=workspace, project=project, name=(record.get("project") or {}).get("name"),
                               user=user)  # fmt: skip
        experiment = _experiment_for(project=project, record=record, user=user)
        archive_require_active_experiment(experiment_id=experiment.pk)  # SPEC §14: archived is read-only
        blob = None
        if source is not None:
            blob, _ = SourceBlob.objects.get_or_create(
                sha256=source_sha256, defaults={"content": source, "size": len(source)}
            )
        # Same numbering lock as a launch: the experiment row serializes run numbers.
        locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
        number = locked.run_counter + 1
        Experiment.objects.filter(pk=experiment.pk).update(run_counter=number)
        run = Run.objects.create(
            experiment=experiment,
            project=project,
            workspace=workspace,
            number=number,
            status=status,
            params=data.get("params") if isinstance(data.get("params"), dict) else {},
            profile=_text(data.get("profile")),
            config=data.get("config") if isinstance(data.get("config"), dict) else {},
            config_hash=_text(data.get("config_hash"), 64),
            overrides=data.get("overrides") if isinstance(data.get("overrides"), list) else [],
            workflow_snapshot=data.get("workflow_snapshot") if isinstance(data.get("workflow_snapshot"), dict) else {},
            source_blob=blob,
            results=data.get("results") if isinstance(data.get("results"), dict) else {},
            error=data.get("error"),
            imported=imported,
            started_at=_when(data.get("started_at")),
            finished_at=_when(data.get("finished_at")),
        )
        created = _when(data.get("created_at"))
        if created:
            Run.objects.filter(pk=run.pk).update(created_at=created)
        by_number: dict[int, Execution] = {}
        for ex in executions:
            execution = Execution.objects.create(
                uuid=uuid.uuid4(),
                run=run,
                number=int(ex.get("number") or len(by_number) + 1),
                trigger=_choice(ex.get("trigger"), Trigger.values, Trigger.LAUNCH),
                status=_choice(ex.get("status"), ExecutionStatus.values, ExecutionStatus.FAILED),
                worker_hostname=_text(ex.get("worker_hostname"), 255),
                worker_pid=ex.get("worker_pid") if isinstance(ex.get("worker_pid"), int) else None,
                celery_task_id=_text(ex.get("celery_task_id"), 255),
                dispatched_at=_when(ex.get("dispatched_at")),
                started_at=_when(ex.get("started_at")),
                finished_at=_when(ex.get("finished_at")),
                heartbeat_at=_when(ex.get("heartbeat_at")),
                environment=ex.get("environment") if isinstance(ex.get("environment"), dict) else {},
                error=ex.get("error"),
            )
            queued = _when(ex.get("queued_at"))
            if queued:
                Execution.objects.filter(pk=execution.pk).update(queued_at=queued)
            by_number[execution.number] = execution
            TaskExecution.objects.bulk_create(
                [
                    TaskExecution(
                        execution=execution,
                        task_name=_text(t.get("task_name")),
                        status=_choice(t.get("status"), TaskStatus.values, TaskStatus.PENDING),
                        started_at=_when(t.get("started_at")),
                        finished_at=_when(t.get("finished_at")),
                        reused=bool(t.get("reused")),
                        output_ref=_record_only_ref(t.get("output_ref")),
                        error=t.get("error"),
                    )
                    for t in ex.get("tasks") or []
                ]
            )
        _events_create(run=run, events=record.get("events") or [], by_number=by_number)
        _metrics_create(run=run, metrics=record.get("metrics") or [], by_number=by_number)
        AuditEvent.objects.record(action=AuditAction.CRATE_IMPORT, actor=user, workspace=workspace, obj=run,
                                  details={"imported": imported})  # fmt: skip
    return run, by_number


#: Rows per INSERT round trip when copying events and metric points.
INSERT_BATCH = 2000


def _insert_with_times(model, fields: list[str], rows) -> None:
    """Insert rows (tuples in ``fields`` order, ``created_at`` last) keeping their original times.

    ``created_at`` is ``auto_now_add``: ``bulk_create`` would overwrite it and a
    ``bulk_update`` of 100 000 rows afterwards takes minutes. A plain parametrized
    INSERT (``executemany`` in batches) writes each row once, times included.
    """
    ops = connection.ops
    columns = ", ".join(ops.quote_name(model._meta.get_field(name).column) for name in fields)
    sql = (
        f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({columns}) "  # noqa: S608 - names from the model
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    now = timezone.now()
    batch: list[tuple] = []
    with connection.cursor() as cursor:
        for row in rows:
            *values, created = row
            batch.append((*values, ops.adapt_datetimefield_value(created or now)))
            if len(batch) >= INSERT_BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def _execution_id(value: Any, by_number: dict[int, Execution]) -> int | None:
    execution = by_number.get(value) if isinstance(value, int) else None
    return execution.pk if execution is not None else None


def _events_create(*, run: Run, events: list, by_number: dict[int, Execution]) -> None:
    _insert_with_times(
        RunEvent,
        ["run", "execution", "subject", "from_status", "to_status", "message", "created_at"],
        (
            (
                run.pk,
                _execution_id(e.get("execution"), by_number),
                _choice(e.get("subject"), EventSubject.values, EventSubject.RUN),
                _text(e.get("from_status"), 12),
                _text(e.get("to_status"), 12),
                str(e.get("message") or ""),
                _when(e.get("created_at")),
            )
            for e in events
        ),
    )


def _metric_value(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError("A metric value in the crate is not a number.") from None
    return number


def _metrics_create(*, run: Run, metrics: list, by_number: dict[int, Execution]) -> None:
    _insert_with_times(
        Metric,
        ["run", "execution", "key", "step", "value", "created_at"],
        (
            (
                run.pk,
                _execution_id(m.get("execution"), by_number),
                _text(m.get("key")),
                m.get("step") if isinstance(m.get("step"), int) and not isinstance(m.get("step"), bool) else None,
                _metric_value(m.get("value")),
                _when(m.get("created_at")),
            )
            for m in metrics
        ),
    )
