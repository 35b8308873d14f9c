"""Launching runs: validate a request into a ``LaunchPlan``, then create its runs and dispatch them (SPEC §4).

A launch goes ``run_launch`` → ``launch_plan`` (reads and validates; writes nothing) →
``runs_create`` (writes) → ``dispatch.execution_dispatch`` (after commit). Clone and
reproduce build their plan with ``launch_plan_from_run`` from a run's record instead of
the files, then take the same ``runs_create``.

Invariants:
- A launch validates everything (workflow file, topology, profile, overrides,
  params/sweep, limits) before it writes; a bad request creates nothing.
- Runs, their first executions and their events are created in one transaction; their
  ids go to the broker only after it commits (the database is the outbox).
- Run numbers of an experiment are unique and gap-free: one counter UPDATE reserves a
  range and holds the experiment's row lock until commit (``_allocate_run_numbers``).
- Slow I/O (storing the code bundle) happens before the transaction.
- A plan re-using a recorded snapshot passes the provenance guard: code from a crate
  never runs (SPEC §12).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Value
from django.utils import timezone

from .. import snapshot as code_snapshot
from ..access import archive_require_active_experiment
from ..choices import ExecutionStatus, Role, RunStatus, Trigger
from ..fingerprint import run_fingerprint
from ..gitstate import GitState, git_capture
from ..models import EventSubject, Execution, Experiment, Run, RunEvent, SourceBlob
from ..policy import run_snapshot_require
from ..profiles import MOLCFG_NAME, ProfileError, build_config, load_molcfg, override_warnings
from ..selectors import run_queued_counts, workspace_require_role
from . import dispatch, limits
from .core import workflow_resolve
from .discovery import workflow_inspect
from .row_inserts import SMALL_INSERT_ROWS, rows_insert

MAX_SWEEP_RUNS = 10_000
#: Above this many bytes of JSON a sweep's shared snapshot is bound once per row as an expression
#: instead of a plain value (``runs_create``; about where the two cost the same CPU per run).
_SNAPSHOT_INLINE_BYTES = 2048


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
    #: Things worth a look that do not stop the launch (override keys no profile defines).
    warnings: list[str] = field(default_factory=list)

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
        warnings = override_warnings(molcfg, overrides)
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
        warnings=warnings,
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


def _allocate_run_numbers(*, experiment_id: int, count: int, source_sha256: str) -> tuple[int, int | None]:
    """Reserve ``count`` consecutive run numbers of an experiment; returns the first, and the id of the
    ``SourceBlob`` with ``source_sha256`` (None when there is none, or for ``""``), read by the same statement.

    One ``UPDATE … SET run_counter = run_counter + count … RETURNING`` (PostgreSQL,
    SQLite ≥ 3.35): the row lock it takes is held until the caller's transaction
    ends, so concurrent launches get disjoint ranges and a rolled-back launch
    gives its numbers back (no gaps). Call it inside ``transaction.atomic`` and
    as late as possible: everything after it until commit serializes launches of
    one experiment.
    """
    table = connection.ops.quote_name(Experiment._meta.db_table)
    blobs = connection.ops.quote_name(SourceBlob._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET run_counter = run_counter + %s WHERE id = %s "  # noqa: S608
            f"RETURNING run_counter, (SELECT id FROM {blobs} WHERE sha256 = %s)",
            [count, experiment_id, source_sha256],
        )
        row = cursor.fetchone()
    if row is None:
        raise Experiment.DoesNotExist(f"experiment {experiment_id} does not exist")
    return row[0] - count + 1, row[1]


def runs_create(
    *,
    plan: LaunchPlan,
    user,
    cloned_from: Run | None = None,
    reproduction_of: Run | None = None,
    input_pins: dict | None = None,
) -> list[Run]:
    """Create one queued run per cell of ``plan`` and dispatch their first executions after commit.

    The one writer of new runs: launch, clone and reproduce all end here. Checks the
    queue limits first (``TooManyRequests``). Side effects: the code bundle's files
    (before the transaction), then in one transaction a ``SourceBlob`` if new, the
    ``Run``/``Execution``/``RunEvent`` rows and one ``runs.execution_run`` message per run
    after commit. The runs of one call share a new ``sweep_id`` (the launch request's identity,
    which groups a sweep in the runs table). ``cloned_from``/``reproduction_of``/``input_pins`` are recorded as given.
    """
    experiment = plan.experiment
    archive_require_active_experiment(experiment_id=experiment.pk)  # SPEC §14: archived is read-only
    launched_by = user if getattr(user, "is_authenticated", False) else None
    snapshot = plan.snapshot
    # The snapshot (with the uncommitted git diff, often tens of KB) is the same for every run of a
    # sweep. As a plain value Django's PostgreSQL bulk insert packs it into a jsonb[] array literal
    # that psycopg escapes character by character in Python (seconds for 1 000 runs with a big diff);
    # as an expression it goes out as one bound parameter per row, escaped by libpq, but the insert
    # then takes the multi-row VALUES form, whose thousands of placeholders psycopg parses in Python
    # (≈ 20 % more CPU per run for a clean tree's ~1 KB snapshot). So: an expression only when big.
    big = len(plan.cells) > 1 and len(json.dumps(snapshot)) > _SNAPSHOT_INLINE_BYTES
    snapshot_value = Value(snapshot, output_field=models.JSONField()) if big else snapshot
    limits.launch_admit(plan=plan, queued=run_queued_counts(user=user, workspace_id=experiment.workspace_id))
    if plan.bundle is not None:
        code_snapshot.bundle_store(plan.bundle)  # slow I/O before the transaction; each content once
    sweep_id = uuid.uuid4()
    with transaction.atomic():
        # The counter UPDATE locks the experiment row until commit: it serializes run numbering
        # between concurrent launches, so only the inserts below run under it. It also looks up
        # the source's blob (one round trip); a new source's blob is inserted here, under the lock.
        first, found = _allocate_run_numbers(experiment_id=experiment.pk, count=len(plan.cells),
                                             source_sha256=plan.source_sha256)  # fmt: skip
        blob_id = found if found is not None else _source_blob_id(content=plan.source, sha256=plan.source_sha256)
        now = timezone.now()
        runs = _insert(
            Run,
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
                    sweep_id=sweep_id,
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
        executions = _insert(
            Execution,
            [Execution(run_id=run.pk, number=1, trigger=Trigger.LAUNCH, status=ExecutionStatus.QUEUED) for run in runs],
            batch_size=500,
        )
        # Creation is not a transition: the run is born queued (the pending state only
        # exists inside this transaction), and the history says so.
        events = []
        for run, execution in zip(runs, executions, strict=True):
            message = f"launched by {user}" + (f" (clone of {cloned_from.experiment.name} #{cloned_from.number})"
                                               if cloned_from else "")  # fmt: skip
            message += (f" (reproduction of {reproduction_of.experiment.name} #{reproduction_of.number})"
                        if reproduction_of else "")  # fmt: skip
            events.append(RunEvent(run_id=run.pk, subject=EventSubject.RUN, from_status=RunStatus.PENDING,
                                   to_status=RunStatus.QUEUED, message=message))  # fmt: skip
            events.append(RunEvent(run_id=run.pk, execution_id=execution.pk, subject=EventSubject.EXECUTION,
                                   from_status="", to_status=ExecutionStatus.QUEUED, message="launch"))  # fmt: skip
        _insert(RunEvent, events, batch_size=1000)
        dispatch.execution_dispatch([(e.pk, str(e.uuid)) for e in executions])
    return runs


def _insert(model, objs: list, *, batch_size: int) -> list:
    """``model.objects.bulk_create(objs, batch_size=…)``; the few rows of a one-run launch take a kept statement
    (``rows_insert``: the same rows, without compiling three INSERTs per launch)."""
    if len(objs) <= SMALL_INSERT_ROWS:
        return rows_insert(objs)
    return model.objects.bulk_create(objs, batch_size=batch_size)


class Launched(list):
    """The runs of one launch (a list, as before) and the plan's ``warnings``.

    Built like a list from one iterable too (``type(value)(…)``, as Django's lookups rebuild lists).
    """

    def __init__(self, runs=(), warnings=()) -> None:
        super().__init__(runs)
        self.warnings = list(warnings)


def run_launch(
    *,
    user,
    experiment: Experiment,
    profile: str = "",
    overrides: list[str] | None = None,
    params: dict | None = None,
    sweep: dict | None = None,
) -> Launched:
    """Launch one run (``params``) or one per sweep cell (``sweep``) of an experiment (editor or owner).

    Side effects: ``Run``/``Execution``/``RunEvent`` rows, one ``SourceBlob`` per
    new source content, and one ``runs.execution_run`` message per run after commit.
    Raises ``ValidationError`` (see ``launch_plan``) or ``PermissionDenied``. Returns the runs
    with the plan's ``warnings`` (unknown override keys), which page and API show.
    """
    workspace_require_role(user=user, workspace=experiment.workspace, role=Role.EDITOR)
    plan = launch_plan(experiment=experiment, profile=profile, overrides=overrides, params=params, sweep=sweep)
    return Launched(runs_create(plan=plan, user=user), plan.warnings)


def launch_plan_from_run(*, run: Run, config: dict, config_hash: str, overrides: list[str], params: dict) -> LaunchPlan:
    """A one-run plan re-using ``run``'s recorded snapshot (same SourceBlob, topology and git state).

    Every path that re-runs a recorded snapshot goes through here, so the guard is here too:
    ``Conflict`` for an imported run or a descendant of one.
    """
    run_snapshot_require(run=run)
    blob = run.source_blob
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
