"""Launching and controlling runs, and executing them in the worker (SPEC §4–§6).

Invariants:
- One service per operation, called alike by the HTML views, the API, the
  ``launch`` command and the Celery tasks.
- A launch validates everything (workflow file, topology, profile, overrides,
  params/sweep) before it writes; a bad request creates nothing.
- Runs and their first executions are created in one transaction; their ids go
  to the broker only after it commits (the database is the outbox, and
  ``execution_reconcile`` re-sends what the broker lost).
- The worker claims an execution with a conditional UPDATE (``queued →
  running``); a second delivery of the same message finds nothing to claim and
  does nothing. It executes the run's *snapshot*, never the file as it is now.
- Nothing written before a failure is lost: artifacts are committed as they are
  saved, logs and metrics are flushed before the failure is recorded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import json
import logging
import os
import pickle
import platform
import socket
import subprocess
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection, models, transaction
from django.db.models import Value
from django.utils import timezone

from assets_app import services as asset_services
from molexp_site.errors import Conflict, IllegalTransition

from .. import snapshot as code_snapshot
from ..choices import ExecutionStatus, Role, RunStatus, TaskStatus, Trigger
from ..fingerprint import run_fingerprint
from ..gitstate import GitState, git_capture
from ..models import EventSubject, Execution, Experiment, Run, RunEvent, SourceBlob, TaskExecution
from ..profiles import MOLCFG_NAME, ProfileError, build_config, load_molcfg
from ..selectors import execution_stale_list, run_queued_counts, workflow_file_list, workspace_require_role
from . import limits
from .core import status_transition, workflow_path_is_server_file, workflow_resolve
from .provenance import imported_refusal_message, run_code_refusal, run_require_server_code
from .reproduce import reproduction_verdict_compute

logger = logging.getLogger(__name__)

MAX_SWEEP_RUNS = 10_000
#: Outputs up to this size are kept inline as JSON for resume; larger ones are pickled to a blob.
INLINE_OUTPUT_BYTES = 256 * 1024
RESTARTABLE = (RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.LOST)


@contextmanager
def _without_fsync_wait():
    """A transaction whose COMMIT does not wait for the WAL flush (PostgreSQL ``SET LOCAL
    synchronous_commit = off``; a plain transaction elsewhere).

    Only for writes whose loss in a *database crash* (never in a clean restart, and
    never when a later synchronous commit of any session has flushed the WAL past them,
    within ~0.2 s) is harmless and recovered by design: ``dispatched_at`` (lost → the
    reconciler re-sends, the claim drops the duplicate) and the worker's per-task rows
    (followed by the synchronous commit that ends the execution; a crashed database
    leaves the run to the reaper anyway). A synchronous commit waits for an fsync
    (~7 ms on this machine's disk, most of a trivial run's cost); this one does not.
    Claims and terminal states keep synchronous commits.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        yield


# --- workflow discovery ---------------------------------------------------------------

_topology_cache: dict[tuple[str, str, str], dict] = {}
#: Shared cache (Redis in production, files when embedded) of inspected topologies, so a new
#: web process, a ``manage.py launch`` or a restart does not spawn the inspector again.
TOPOLOGY_CACHE_PREFIX = "molexp:topology:v1:"
TOPOLOGY_CACHE_SECONDS = 30 * 24 * 3600


def _siblings_fingerprint(folder: Path) -> str:
    """Path, size and mtime of the Python files of the workflow's root folder (helpers it may import,
    in sub-folders too), with the snapshot's pruning (hidden folders, ``__pycache__``, ``.git``)."""
    root = next((r for r in map(lambda d: Path(d).resolve(), settings.MOLEXP_WORKFLOW_DIRS)
                 if folder.resolve().is_relative_to(r)), folder)  # fmt: skip
    entries = []
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                try:
                    st = os.stat(os.path.join(current, name))
                except OSError:
                    continue
                entries.append(f"{os.path.relpath(os.path.join(current, name), root)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def workflow_inspect(*, path: Path, source: bytes | None = None) -> dict:
    """Topologies of the workflows in ``path``, read in a short-lived subprocess (cached by content).

    Returns ``{"workflows": [...]}`` or ``{"error": "..."}``; never imports the file here.
    The key is the file's path, the SHA-256 of its bytes (``source`` when the caller
    already read them) and a fingerprint of the ``.py`` files beside it (helpers the
    workflow may import): identical inputs have an identical topology. Results are kept in
    this process and, when the inspection succeeded, in the Django cache shared by all
    processes; errors are not shared (they may be transient, e.g. a timeout).
    """
    from django.core.cache import cache

    if not workflow_path_is_server_file(path):
        # Only a file of the server's workflow folders is ever inspected (SPEC §12), whoever calls.
        return {"error": f"{path.name} is not a workflow file of the server's workflow directories"}
    data = path.read_bytes() if source is None else source
    key = (str(path), hashlib.sha256(data).hexdigest(), _siblings_fingerprint(path.parent))
    cached = _topology_cache.get(key)
    if cached is not None:
        return cached
    shared_key = TOPOLOGY_CACHE_PREFIX + hashlib.sha256("\0".join(key).encode()).hexdigest()
    try:
        shared = cache.get(shared_key)
    except Exception:  # the cache is an optimization: never fail a launch because it is down
        logger.warning("topology cache unavailable; inspecting %s", path, exc_info=True)
        shared = None
    if isinstance(shared, dict) and "workflows" in shared:
        _topology_cache[key] = shared
        return shared
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "runs_app.workflow.inspect", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=settings.BASE_DIR,
            env={**os.environ, "PYTHONPATH": str(settings.BASE_DIR)},
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
        if not result:
            result = {"error": f"inspecting {path.name} failed: {proc.stderr.strip()[-500:]}"}
    except subprocess.TimeoutExpired:
        result = {"error": f"inspecting {path.name} took longer than 60 s"}
    if len(_topology_cache) > 256:
        _topology_cache.clear()
    _topology_cache[key] = result
    if "workflows" in result and not result.get("error"):
        try:
            cache.set(shared_key, result, timeout=TOPOLOGY_CACHE_SECONDS)
        except Exception:
            logger.warning("topology cache unavailable; not storing %s", path, exc_info=True)
    return result


def workflow_list() -> list[dict]:
    """Every workflow file under ``MOLEXP_WORKFLOW_DIRS`` with its workflows, tasks and profiles."""
    found = []
    for rel in workflow_file_list():
        try:
            path = workflow_resolve(rel)
        except ValidationError:
            continue
        entry: dict[str, Any] = {"workflow_source": rel, "directory": str(path.parent)}
        info = workflow_inspect(path=path)
        entry["workflows"] = info.get("workflows", [])
        entry["error"] = info.get("error", "")
        try:
            molcfg = load_molcfg(path.parent / MOLCFG_NAME)
            entry["profiles"] = sorted(molcfg["profiles"])
            entry["defaults"] = molcfg["defaults"]
        except ProfileError as exc:
            entry["profiles"], entry["defaults"] = [], {}
            entry["error"] = entry["error"] or str(exc)
        found.append(entry)
    return found


# --- launching ------------------------------------------------------------------------


@dataclass
class LaunchPlan:
    """Everything a launch needs, validated; also what the launch form previews."""

    experiment: Experiment
    profile: str
    overrides: list[str]
    config: dict
    config_hash: str
    cells: list[dict]
    source: bytes
    source_sha256: str
    workflow_name: str
    topology: dict
    topology_hash: str
    molcfg_text: str
    git: GitState = field(default_factory=GitState)
    #: The code bundle read at launch (None when the plan re-uses a recorded snapshot).
    bundle: code_snapshot.Bundle | None = None
    #: path → {sha256, size} of every file of the snapshot, and its hash (SPEC §12).
    files: dict = field(default_factory=dict)
    snapshot_hash: str = ""

    def fingerprint(self, params: dict) -> str:
        return run_fingerprint(snapshot_hash=self.snapshot_hash, workflow_name=self.workflow_name,
                               config_hash=self.config_hash, params=params)  # fmt: skip

    @property
    def snapshot(self) -> dict:
        return {
            "snapshot_hash": self.snapshot_hash,
            "files": self.files,
            "workflow_source": self.experiment.workflow_source,
            "workflow_name": self.workflow_name,
            "source_sha256": self.source_sha256,
            "source_size": len(self.source),
            "topology_hash": self.topology_hash,
            "tasks": self.topology.get("order", []),
            "molcfg": self.molcfg_text,
            "git_commit": self.git.commit,
            "git_branch": self.git.branch,
            "git_dirty": self.git.dirty,
            "git_diff": self.git.diff,
            "git_untracked": self.git.untracked,
            "git_untracked_count": self.git.untracked_count,
            "git_workflow_state": self.git.workflow_state,
        }


def _check_sweep(sweep: Any) -> list[dict]:
    if not isinstance(sweep, dict) or not sweep:
        raise ValidationError({"sweep": "A sweep is a non-empty object of axis → list of values."})
    axes = []
    for axis, values in sweep.items():
        if not isinstance(values, list):
            raise ValidationError(
                {"sweep": f"Sweep axis {axis!r} must be a list of values, not {type(values).__name__} ({values!r})."}
            )
        if not values:
            raise ValidationError({"sweep": f"Sweep axis {axis!r} has no values."})
        axes.append((str(axis), values))
    total = 1
    for _, values in axes:
        total *= len(values)
    if total > MAX_SWEEP_RUNS:
        raise ValidationError({"sweep": f"The sweep makes {total} runs; at most {MAX_SWEEP_RUNS} per launch."})
    names = [a for a, _ in axes]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))]


def launch_plan(
    *,
    experiment: Experiment,
    profile: str = "",
    overrides: list[str] | None = None,
    params: dict | None = None,
    sweep: dict | None = None,
    capture_git: bool = True,
) -> LaunchPlan:
    """Validate a launch request and resolve its config; writes nothing.

    Raises ``ValidationError`` naming the problem: unknown workflow file or
    workflow, invalid topology, unknown profile, bad molcfg.yaml, malformed
    override, params that are not an object, a sweep axis that is not a list.
    """
    if params is not None and sweep is not None:
        raise ValidationError({"sweep": "Give either params or a sweep, not both."})
    limits.launch_request_check(profile=profile, overrides=overrides, params=params, sweep=sweep)
    if params is not None and not isinstance(params, dict):
        raise ValidationError({"params": "params must be a JSON object (name → value)."})
    overrides = list(overrides or [])
    if not all(isinstance(o, str) for o in overrides):
        raise ValidationError({"overrides": "Overrides are strings KEY=VALUE."})
    cells = _check_sweep(sweep) if sweep is not None else [dict(params or {})]
    for cell in cells:
        try:
            json.dumps(cell, allow_nan=False)
        except (TypeError, ValueError):
            raise ValidationError({"params": "params must be JSON-serializable."}) from None
    path = workflow_resolve(experiment.workflow_source)
    source = path.read_bytes()
    info = workflow_inspect(path=path, source=source)
    if info.get("error"):
        raise ValidationError({"workflow_source": info["error"]})
    workflows = {w["name"]: w for w in info.get("workflows", [])}
    if experiment.workflow_name:
        if experiment.workflow_name not in workflows:
            raise ValidationError(
                {"workflow_name": f"{path.name} has no workflow {experiment.workflow_name!r} "
                 f"(defines: {', '.join(sorted(workflows))})"}
            )  # fmt: skip
        topology = workflows[experiment.workflow_name]
    elif len(workflows) == 1:
        topology = next(iter(workflows.values()))
    else:
        raise ValidationError(
            {"workflow_name": f"{path.name} defines several workflows ({', '.join(sorted(workflows))}); "
             "the experiment must name one"}
        )  # fmt: skip
    molcfg_path = path.parent / MOLCFG_NAME
    try:
        molcfg_text = molcfg_path.read_text(encoding="utf-8") if molcfg_path.exists() else ""
        molcfg = load_molcfg(molcfg_path)
        name, config, digest = build_config(molcfg, profile, overrides)
    except ProfileError as exc:
        field_name = "overrides" if "override" in str(exc).lower() else "profile"
        raise ValidationError({field_name: str(exc)}) from None
    root = code_snapshot.workflow_root(experiment.workflow_source, path)
    bundle = code_snapshot.bundle_collect(root=root, workflow_rel=path.relative_to(root).as_posix(), source=source,
                                          include=molcfg.get("snapshot_include", []))  # fmt: skip
    plan = LaunchPlan(
        experiment=experiment,
        profile=name,
        overrides=overrides,
        config=config,
        config_hash=digest,
        cells=cells,
        source=source,
        source_sha256=hashlib.sha256(source).hexdigest(),
        workflow_name=topology["name"],
        topology=topology,
        topology_hash=topology["topology_hash"],
        molcfg_text=molcfg_text,
        git=git_capture(path, root=root) if capture_git else GitState(),
        bundle=bundle,
        files=bundle.manifest,
        snapshot_hash=bundle.snapshot_hash,
    )
    limits.launch_plan_check(plan=plan)
    return plan


def _source_blob_id(*, content: bytes, sha256: str) -> int:
    """The id of the ``SourceBlob`` holding ``content`` (created on first use; never re-reads the bytes)."""
    found = SourceBlob.objects.filter(sha256=sha256).values_list("pk", flat=True).first()
    if found is not None:
        return found
    blob, _ = SourceBlob.objects.get_or_create(sha256=sha256, defaults={"content": content, "size": len(content)})
    return blob.pk


def _allocate_run_numbers(*, experiment_id: int, count: int) -> int:
    """Reserve ``count`` consecutive run numbers of an experiment; returns the first.

    One ``UPDATE … SET run_counter = run_counter + count … RETURNING`` (PostgreSQL,
    SQLite ≥ 3.35): the row lock it takes is held until the caller's transaction
    ends, so concurrent launches get disjoint ranges and a rolled-back launch
    gives its numbers back (no gaps). Call it inside ``transaction.atomic`` and
    as late as possible: everything after it until commit serializes launches of
    one experiment.
    """
    table = connection.ops.quote_name(Experiment._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET run_counter = run_counter + %s WHERE id = %s RETURNING run_counter",  # noqa: S608
            [count, experiment_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Experiment.DoesNotExist(f"experiment {experiment_id} does not exist")
    return row[0] - count + 1


class _PipelinedPut:
    """While active, a kombu Redis channel's ``_put`` (one LPUSH round trip per message)
    queues its LPUSH on one pipeline instead; ``flush()`` sends them all in one round trip.

    The LPUSH is exactly kombu's own (same key, priority and serialization); only the
    round trips are batched. Other transports (the embedded ``filesystem://`` one) are
    left alone: ``active`` is False and messages go out one by one as before.
    """

    def __init__(self, producer) -> None:
        self.channel = None
        self.pipe = None
        try:
            from kombu.transport import redis as kombu_redis
        except ImportError:  # pragma: no cover - redis is a dependency of the production stack
            return
        channel = getattr(producer, "channel", None)
        if isinstance(channel, kombu_redis.Channel) and not getattr(channel, "global_keyprefix", ""):
            self.channel = channel

    @property
    def active(self) -> bool:
        return self.channel is not None

    def __enter__(self):
        if self.channel is not None:
            from kombu.transport.redis import dumps

            channel = self.channel
            # The channel's own publishing pool (the one its _put uses), not its async consumer client.
            self.pipe = channel._create_client().pipeline(transaction=False)
            pipe = self.pipe

            def _put(queue, message, **kwargs):
                pri = channel._get_message_priority(message, reverse=False)
                pipe.lpush(channel._q_for_pri(queue, pri), dumps(message))

            channel._put = _put  # instance attribute: shadows the method for this channel only
        return self

    def flush(self) -> None:
        if self.pipe is not None and len(self.pipe):
            self.pipe.execute()

    def __exit__(self, *exc) -> None:
        if self.channel is not None:
            self.channel.__dict__.pop("_put", None)
            if self.pipe is not None:
                self.pipe.reset()
        return None


#: Messages per Redis pipeline round trip when dispatching a sweep.
DISPATCH_BATCH = 500


def _dispatch(executions: list[tuple[int, str]]) -> None:
    """Send execution ids to the ``runs`` queue after the current transaction commits.

    On Redis the messages of one launch go out in pipelined batches of
    ``DISPATCH_BATCH`` (one round trip each). ``dispatched_at`` is set only for
    messages the broker acknowledged; the rest stay queued with no
    ``dispatched_at`` and ``execution_reconcile`` sends them when the broker is back.
    """
    if not executions:
        return

    def send() -> None:
        from molexp_site.celery import app

        sent = []
        try:
            with app.producer_or_acquire() as producer, _PipelinedPut(producer) as pipelined:
                pending = []
                for execution_id, task_id in executions:
                    app.send_task(
                        "runs.execution_run",
                        kwargs={"execution_id": execution_id},
                        task_id=task_id,
                        queue="runs",
                        producer=producer,
                    )
                    pending.append(execution_id)
                    if not pipelined.active or len(pending) >= DISPATCH_BATCH:
                        pipelined.flush()
                        sent.extend(pending)
                        pending = []
                pipelined.flush()
                sent.extend(pending)
        except Exception:
            # The broker is down: the executions stay queued with no dispatched_at and
            # the reconciler sends them when it is back. The launch itself succeeded.
            logger.exception("dispatch failed after %d of %d executions", len(sent), len(executions))
        finally:
            if sent:
                with _without_fsync_wait():
                    Execution.objects.filter(pk__in=sent).update(dispatched_at=timezone.now())

    transaction.on_commit(send)


def _create_runs(
    *,
    plan: LaunchPlan,
    user,
    cloned_from: Run | None = None,
    reproduction_of: Run | None = None,
    input_pins: dict | None = None,
) -> list[Run]:
    experiment = plan.experiment
    launched_by = user if getattr(user, "is_authenticated", False) else None
    snapshot = plan.snapshot
    # The snapshot (with the uncommitted git diff, often tens of KB) is the same for every run of a
    # sweep. As a plain value Django's PostgreSQL bulk insert packs it into a jsonb[] array literal
    # that psycopg escapes character by character in Python (seconds for 1 000 runs); as an
    # expression it goes out as one bound parameter per row, escaped by libpq.
    snapshot_value = Value(snapshot, output_field=models.JSONField()) if len(plan.cells) > 1 else snapshot
    limits.launch_admit(plan=plan, queued=run_queued_counts(user=user, workspace_id=experiment.workspace_id))
    if plan.bundle is not None:
        code_snapshot.bundle_store(plan.bundle)  # slow I/O before the transaction; each content once
    with transaction.atomic():
        blob_id = _source_blob_id(content=plan.source, sha256=plan.source_sha256)
        # The counter UPDATE locks the experiment row until commit: it serializes run numbering
        # between concurrent launches, so only the inserts below run under it.
        first = _allocate_run_numbers(experiment_id=experiment.pk, count=len(plan.cells))
        now = timezone.now()
        runs = Run.objects.bulk_create(
            [
                Run(
                    experiment_id=experiment.pk,
                    project_id=experiment.project_id,
                    workspace_id=experiment.workspace_id,
                    number=first + i,
                    status=RunStatus.QUEUED,
                    params=cell,
                    profile=plan.profile,
                    config=plan.config,
                    config_hash=plan.config_hash,
                    fingerprint=plan.fingerprint(cell),
                    overrides=plan.overrides,
                    workflow_snapshot=snapshot_value,
                    source_blob_id=blob_id,
                    launched_by=launched_by,
                    cloned_from=cloned_from,
                    reproduction_of=reproduction_of,
                    input_pins=dict(input_pins or {}),
                    created_at=now,
                    updated_at=now,
                )
                for i, cell in enumerate(plan.cells)
            ],
            batch_size=500,
        )
        for run in runs:
            run.workflow_snapshot = snapshot  # the rows hold it; the objects returned hold the dict, not the expression
        executions = Execution.objects.bulk_create(
            [Execution(run_id=run.pk, number=1, trigger=Trigger.LAUNCH, status=ExecutionStatus.QUEUED) for run in runs],
            batch_size=500,
        )
        # Creation is not a transition: the run is born queued (the pending state only
        # exists inside this transaction), and the history says so.
        events = []
        for run, execution in zip(runs, executions, strict=True):
            message = f"launched by {user}" + (f" (clone of run #{cloned_from.number})" if cloned_from else "")
            message += f" (reproduction of run #{reproduction_of.number})" if reproduction_of else ""
            events.append(RunEvent(run_id=run.pk, subject=EventSubject.RUN, from_status=RunStatus.PENDING,
                                   to_status=RunStatus.QUEUED, message=message))  # fmt: skip
            events.append(RunEvent(run_id=run.pk, execution_id=execution.pk, subject=EventSubject.EXECUTION,
                                   from_status="", to_status=ExecutionStatus.QUEUED, message="launch"))  # fmt: skip
        RunEvent.objects.bulk_create(events, batch_size=1000)
        _dispatch([(e.pk, str(e.uuid)) for e in executions])
    return runs


def run_launch(
    *,
    user,
    experiment: Experiment,
    profile: str = "",
    overrides: list[str] | None = None,
    params: dict | None = None,
    sweep: dict | None = None,
) -> list[Run]:
    """Launch one run (``params``) or one per sweep cell (``sweep``) of an experiment (editor or owner).

    Side effects: ``Run``/``Execution``/``RunEvent`` rows, one ``SourceBlob`` per
    new source content, and one ``runs.execution_run`` message per run after commit.
    Raises ``ValidationError`` (see ``launch_plan``) or ``PermissionDenied``.
    """
    workspace_require_role(user=user, workspace=experiment.workspace, role=Role.EDITOR)
    plan = launch_plan(experiment=experiment, profile=profile, overrides=overrides, params=params, sweep=sweep)
    return _create_runs(plan=plan, user=user)


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
    plan = _plan_from_run(
        run=run,
        config=config,
        config_hash=digest,
        overrides=[*(run.overrides or []), *(overrides or [])],
        params=dict(params if params is not None else run.params or {}),
    )
    return _create_runs(plan=plan, user=user, cloned_from=run)[0]


def _plan_from_run(*, run: Run, config: dict, config_hash: str, overrides: list[str], params: dict) -> LaunchPlan:
    """A one-run plan re-using ``run``'s recorded snapshot (same SourceBlob, topology and git state).

    Every path that re-runs a recorded snapshot goes through here, so the guard is here too:
    ``Conflict`` for an imported run or a descendant of one.
    """
    run_require_server_code(run=run)
    blob = run.source_blob
    if blob is None:
        raise Conflict(f"Run #{run.number} has no stored workflow snapshot.")
    snapshot = dict(run.workflow_snapshot or {})
    return LaunchPlan(
        experiment=run.experiment,
        profile=run.profile,
        overrides=overrides,
        config=config,
        config_hash=config_hash,
        cells=[params],
        source=bytes(blob.content),
        source_sha256=blob.sha256,
        workflow_name=snapshot.get("workflow_name", ""),
        topology={"order": snapshot.get("tasks", [])},
        topology_hash=snapshot.get("topology_hash", ""),
        molcfg_text=snapshot.get("molcfg", ""),
        git=GitState(
            commit=snapshot.get("git_commit", ""),
            branch=snapshot.get("git_branch", ""),
            dirty=snapshot.get("git_dirty"),
            diff=snapshot.get("git_diff", ""),
            untracked=list(snapshot.get("git_untracked") or []),
            untracked_count=int(snapshot.get("git_untracked_count") or 0),
            workflow_state=snapshot.get("git_workflow_state", ""),
        ),
        files=dict(snapshot.get("files") or {}),
        snapshot_hash=snapshot.get("snapshot_hash", ""),
    )


def _restart(*, user, run: Run, trigger: str) -> Execution:
    workspace_require_role(user=user, workspace=run.workspace, role=Role.EDITOR)
    run_require_server_code(run=run)
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status not in RESTARTABLE:
            raise Conflict(f"Run #{run.number} is {run.status}; {trigger} needs failed, cancelled or lost.")
        limits.queued_runs_check(queued=run_queued_counts(user=user, workspace_id=run.workspace_id), adding=1)
        number = (run.executions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        execution = Execution.objects.create(run=run, number=number, trigger=trigger)
        RunEvent.objects.create(run=run, execution=execution, subject=EventSubject.EXECUTION, from_status="",
                                to_status=ExecutionStatus.QUEUED, message=trigger)  # fmt: skip
        fields: dict[str, Any] = {"error": None, "cancel_requested": False, "finished_at": None}
        if trigger == Trigger.RERUN:
            fields["results"] = {}
        status_transition(obj=run, to_status=RunStatus.QUEUED, message=f"{trigger} by {user}", **fields)
        _dispatch([(execution.pk, str(execution.uuid))])
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
    if run.imported:
        raise Conflict(imported_refusal_message(number=run.number))
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        execution = run.executions.order_by("-number").first()
        if run.status == RunStatus.QUEUED:
            if execution is not None and execution.status == ExecutionStatus.QUEUED:
                status_transition(obj=execution, to_status=ExecutionStatus.CANCELLED, message=f"cancelled by {user}")
            status_transition(obj=run, to_status=RunStatus.CANCELLED, message=f"cancelled by {user}",
                              cancel_requested=True)  # fmt: skip
            task_id = str(execution.uuid) if execution else None
            if task_id:
                transaction.on_commit(lambda: _revoke(task_id, terminate=False))
            return run
        if run.status == RunStatus.RUNNING:
            Run.objects.filter(pk=run.pk).update(cancel_requested=True)
            if execution is not None and execution.status == ExecutionStatus.RUNNING:
                status_transition(obj=execution, to_status=ExecutionStatus.CANCELLING, message=f"cancel by {user}")
            status_transition(obj=run, to_status=RunStatus.CANCELLING, message=f"cancel requested by {user}")
            if execution is not None:
                execution_id = execution.pk
                transaction.on_commit(lambda: _schedule_terminate(execution_id))
            return run
        if run.status == RunStatus.CANCELLING:
            return run
        raise Conflict(f"Run #{run.number} is {run.status}; only queued or running runs can be cancelled.")


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
            run = Run.objects.get(pk=execution.run_id)
            if run.status == RunStatus.CANCELLING:
                status_transition(obj=run, to_status=RunStatus.CANCELLED, message="terminated after grace period")
    except IllegalTransition:
        return False  # the worker recorded the cancellation itself meanwhile
    return True


def execution_reconcile(*, now=None) -> int:
    """Re-send queued executions whose broker message may be gone (the database is the outbox).

    Candidates: queued executions never dispatched (more than 5 s old) or
    dispatched more than ``MOLEXP_REDISPATCH_AFTER_SECONDS`` ago. Executions
    never dispatched are always sent. Dispatched ones are sent again only when
    the broker's ``runs`` queue holds fewer messages than there are candidates,
    i.e. when messages were lost (a broker restarted empty). A duplicate message
    is harmless: the claim lets only one delivery execute. Returns the number sent.
    """
    from molexp_site.celery import app

    now = now or timezone.now()
    queued = Execution.objects.filter(status=ExecutionStatus.QUEUED)
    never = list(queued.filter(dispatched_at__isnull=True, queued_at__lt=now - timedelta(seconds=5))
                 .values_list("pk", "uuid")[:5000])  # fmt: skip
    stale_cutoff = now - timedelta(seconds=settings.MOLEXP_REDISPATCH_AFTER_SECONDS)
    stale = list(queued.filter(dispatched_at__lt=stale_cutoff).order_by("queued_at").values_list("pk", "uuid")[:5000])
    to_send = list(never)
    if stale:
        from kombu.exceptions import ChannelError

        try:
            with app.connection_for_write() as conn:
                try:
                    in_broker = conn.default_channel.queue_declare(queue="runs", passive=True).message_count
                except ChannelError as exc:
                    if "NOT_FOUND" not in str(exc):
                        raise
                    in_broker = 0  # the broker does not know the queue at all: it came back empty
        except Exception:
            logger.warning("reconciler: cannot read the broker's queue length; not re-sending yet")
            in_broker = None
        if in_broker is not None and in_broker < len(stale):
            to_send.extend(stale)
    if not to_send:
        return 0
    sent = []
    try:
        with app.producer_or_acquire() as producer:
            for pk, uuid in to_send:
                app.send_task("runs.execution_run", kwargs={"execution_id": pk}, task_id=str(uuid), queue="runs",
                              producer=producer)  # fmt: skip
                sent.append(pk)
    except Exception:
        logger.warning("reconciler: broker unavailable after %d sends", len(sent))
    if sent:
        Execution.objects.filter(pk__in=sent).update(dispatched_at=timezone.now())
        logger.info("reconciler re-sent %d queued executions", len(sent))
    return len(sent)


# --- lost executions -------------------------------------------------------------------


def execution_reap_stale(*, now=None) -> dict[str, int]:
    """Mark executions whose heartbeat went silent as ``lost`` and apply the retry policy.

    An execution is stale when its heartbeat (or its start, before the first
    beat) is older than ``MOLEXP_LOST_AFTER_SECONDS``. Its run goes
    ``running → lost``; if fewer than ``MOLEXP_LOST_RETRIES`` retry executions
    exist, a new execution with trigger ``retry`` is queued (run ``lost → queued``)
    and dispatched after commit, otherwise the run goes ``lost → failed``.
    Each execution is handled in its own transaction; losing a race to the
    worker (which finished meanwhile) is skipped, never an error.
    Returns counts ``{"lost": n, "retried": n, "failed": n}``.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.MOLEXP_LOST_AFTER_SECONDS)
    counts = {"lost": 0, "retried": 0, "failed": 0}
    external_cutoff = now - timedelta(seconds=settings.MOLEXP_EXTERNAL_LOST_AFTER_SECONDS)
    stale = execution_stale_list(older_than=cutoff, external_older_than=external_cutoff)
    for execution_id in list(stale.values_list("pk", flat=True)[:500]):
        try:
            with transaction.atomic():
                execution = Execution.objects.select_related("run").get(pk=execution_id)
                age = now - (execution.heartbeat_at or execution.started_at or now)
                message = f"No heartbeat for {int(age.total_seconds())} s from {execution.worker_hostname or 'worker'}"
                status_transition(obj=execution, to_status=ExecutionStatus.LOST, message=message)
                run = execution.run
                if run.status not in (RunStatus.RUNNING, RunStatus.CANCELLING):
                    counts["lost"] += 1
                    continue
                status_transition(obj=run, to_status=RunStatus.LOST, message=message)
                counts["lost"] += 1
                retries = run.executions.filter(trigger=Trigger.RETRY).count()
                external = execution.trigger == Trigger.EXTERNAL  # the server cannot rerun outside code
                if not external and retries < settings.MOLEXP_LOST_RETRIES and not run.cancel_requested:
                    retry = Execution.objects.create(run=run, number=run.executions.count() + 1, trigger=Trigger.RETRY)
                    status_transition(
                        obj=run, to_status=RunStatus.QUEUED, message=f"Retry {retries + 1} as execution {retry.number}"
                    )
                    _dispatch([(retry.pk, str(retry.uuid))])
                    counts["retried"] += 1
                else:
                    error = {
                        "type": "ClientLost" if external else "WorkerLost",
                        "message": message,
                        "task": None,
                        "execution": execution.number,
                        "traceback_asset": None,
                    }
                    status_transition(
                        obj=run,
                        to_status=RunStatus.FAILED,
                        message="External run lost (no retry)"
                        if external
                        else f"Lost and out of retries ({settings.MOLEXP_LOST_RETRIES})",
                        error=error,
                    )
                    counts["failed"] += 1
        except IllegalTransition as exc:
            logger.info("reaper skipped execution %s: %s", execution_id, exc)
    return counts


# --- execution in the worker --------------------------------------------------------------

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


def _output_ref(output: Any) -> dict:
    try:
        text = json.dumps(output, allow_nan=False)
        if len(text) <= INLINE_OUTPUT_BYTES:
            return {"json": output}
    except (TypeError, ValueError):
        pass
    try:
        data = pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        return {"unavailable": f"{type(exc).__name__}: {exc}"[:500]}
    blob = asset_services.blob_store_bytes(data)
    return {"blob": blob.name, "sha256": blob.sha256, "size": blob.size, "format": "pickle"}


def _load_output(ref: dict) -> tuple[bool, Any]:
    if not ref:
        return False, None
    if "json" in ref:
        return True, ref["json"]
    if ref.get("format") == "pickle":
        from django.core.files.storage import default_storage

        with default_storage.open(ref["blob"], "rb") as fh:
            return True, pickle.loads(fh.read())  # noqa: S301 - our own blob, written by this worker
    return False, None


def _reconnect_if_broken() -> None:
    """Drop this thread's connection if it broke (database restart); the next query reconnects.

    Outside a transaction only: closing inside one would lose it.
    """
    if not connection.in_atomic_block:
        close_old_connections()


class _TaskRecorder:
    """Engine hooks backed by TaskExecution rows (one row per task per execution)."""

    def __init__(self, *, execution: Execution, ctx, reused_refs: dict[str, dict] | None = None) -> None:
        self.execution = execution
        self.ctx = ctx
        self.reused_refs = reused_refs or {}

    def _save(self, name: str, **fields: Any) -> None:
        # Only the worker that claimed the execution writes its task rows (the claim is
        # exclusive), so an UPDATE, then an INSERT when there was no row, cannot race: no
        # locked read or savepoint as in update_or_create, and no wait for the WAL flush.
        with _without_fsync_wait():
            if not TaskExecution.objects.filter(execution=self.execution, task_name=name).update(**fields):
                TaskExecution.objects.create(execution=self.execution, task_name=name, **fields)

    def check_cancel(self) -> None:
        self.ctx.check_cancel()

    def task_started(self, name: str) -> None:
        self._save(name, status=TaskStatus.RUNNING, started_at=timezone.now())

    def task_succeeded(self, name: str, output: Any) -> None:
        # The task may have computed for minutes without touching the database; if the server
        # restarted meanwhile this thread's connection is dead: health-check it (reconnect) first.
        _reconnect_if_broken()
        self.ctx.flush()
        self._save(name, status=TaskStatus.SUCCEEDED, finished_at=timezone.now(), output_ref=_output_ref(output))

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


def _reusable_outputs(*, execution: Execution) -> tuple[dict[str, Any], dict[str, dict]]:
    """Outputs of tasks that succeeded in the run's previous execution (for resume)."""
    previous = (
        Execution.objects.filter(run_id=execution.run_id, number__lt=execution.number).order_by("-number").first()
    )
    if previous is None:
        return {}, {}
    outputs, refs = {}, {}
    for task in previous.task_executions.filter(status=TaskStatus.SUCCEEDED):
        ok, value = _load_output(task.output_ref or {})
        if ok:
            outputs[task.task_name] = value
            refs[task.task_name] = task.output_ref
    return outputs, refs


def _finish(*, execution: Execution, run: Run, status: str, message: str, error: dict | None = None) -> None:
    """Record the end of an execution and its run in one transaction.

    A cancel request wins: an execution that was ``cancelling`` ends
    ``cancelled`` whatever its tasks did (the state machine has no
    cancelling → succeeded/failed). An execution already terminal (terminated
    after the grace period, or reaped as lost) is left as recorded.
    """
    _reconnect_if_broken()  # a connection broken by a database restart would leave the run stuck running
    with transaction.atomic():
        execution = Execution.objects.select_related("run").get(pk=execution.pk)
        run = execution.run
        if execution.is_terminal:
            return
        if execution.status == ExecutionStatus.CANCELLING or run.status == RunStatus.CANCELLING:
            if status != ExecutionStatus.CANCELLED:
                message = f"{message} (after a cancel request)"
            status = ExecutionStatus.CANCELLED
        status_transition(obj=execution, to_status=status, message=message, error=error)
        run_target = {
            ExecutionStatus.SUCCEEDED: RunStatus.SUCCEEDED,
            ExecutionStatus.FAILED: RunStatus.FAILED,
            ExecutionStatus.CANCELLED: RunStatus.CANCELLED,
        }[status]
        if run.status in (RunStatus.RUNNING, RunStatus.CANCELLING):
            status_transition(obj=run, to_status=run_target, message=message, error=error)


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

    execution = (
        Execution.objects.select_related("run", "run__source_blob", "run__experiment").filter(pk=execution_id).first()
    )
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
        with transaction.atomic():
            status_transition(obj=execution, to_status=ExecutionStatus.RUNNING, message=f"claimed by {host}:{pid}",
                              worker_hostname=host, worker_pid=pid, heartbeat_at=now, started_at=now,
                              celery_task_id=str(execution.uuid), environment=environment)  # fmt: skip
            run = execution.run
            status_transition(obj=run, to_status=RunStatus.RUNNING,
                              message=f"execution {execution.number} ({execution.trigger}) on {host}")  # fmt: skip
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
                    reuse, refs = _reusable_outputs(execution=execution)
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
