"""External runs: runs recorded by the ``molexp`` client outside MolExp's workers (SPEC §13).

Invariants:
- An external run is an ordinary ``Run`` with one ``Execution`` whose trigger is
  ``external``; its experiment may be *external* (no server workflow:
  ``workflow_source`` empty). The server never executes, retries, reruns,
  resumes, clones or reproduces its code.
- Every write goes through the service a worker run uses for the same thing
  (``asset_create``, ``log_open``/``log_append_lines``/``log_finalize``, the
  metric batch insert, ``checkpoint_create``, ``asset_resolve_for_run``,
  ``error_trace_create``, ``status_transition`` via ``_finish``): one code path
  per operation.
- Only the run's launcher (still a member) and the workspace's editors write;
  a run that is finished refuses writes with ``Conflict`` (HTTP 409).
- The record follows SPEC §12 exactly as a worker run's: ``workflow_snapshot`` holds the
  manifest (``files``: path → sha256, size), ``snapshot_hash`` (``snapshot.manifest_hash``),
  ``source_sha256`` of the script and the git fields of ``gitstate.GitState``; the files are
  stored content-addressed by ``snapshot.bundle_store``; ``Run.fingerprint`` is
  ``fingerprint.run_fingerprint``. The client sends each file's sha256 and size with its
  bytes; the server checks them and recomputes every hash.
- The client names the run with a uuid (the execution's uuid): creating the
  same uuid again returns the existing run, so an offline spool synced twice
  is one run.
- A heartbeat that stops makes the periodic reaper mark the execution ``lost``
  after ``MOLEXP_EXTERNAL_LOST_AFTER_SECONDS``, then the run ``failed``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import uuid as uuid_module
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from assets_app import services as asset_services

from .. import snapshot as code_snapshot
from ..access import (
    archive_require_active,
    archive_require_active_experiment,
    external_execution_for_write,
    role_at_least,
    workspace_role,
)
from ..choices import ExecutionStatus, Role, RunStatus, Trigger
from ..fingerprint import run_fingerprint
from ..gitstate import COMMITTED, MAX_DIFF_BYTES, MAX_UNTRACKED, MODIFIED, UNTRACKED
from ..models import EventSubject, Execution, Experiment, Project, Run, RunEvent
from ..profiles import MOLCFG_NAME
from ..profiles import config_hash as compute_config_hash
from .core import _clean_name, _unique_slug
from .execution import _finish
from .launch import _allocate_run_numbers, _source_blob_id

#: One metric point as the shared batch insert (``workflow.context._insert_metric_points``) reads it.
MetricPoint = namedtuple("MetricPoint", "run_id execution_id key step value created_at", defaults=(None,))

#: Bounds on one request (a client sends batches; bigger ones are split by it).
MAX_LOG_LINES_PER_REQUEST = 500_000
#: A ``text/plain`` log body (``external_log_text_append``) is read whole: at most this many bytes.
MAX_LOG_TEXT_BYTES = 16 * 1024 * 1024
MAX_METRIC_POINTS_PER_REQUEST = 500_000
#: A client clock ahead of the server's by at most this much is accepted for point times.
CLOCK_SKEW_SECONDS = 300


# --- helpers ----------------------------------------------------------------------


def _json_object(value: Any, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError({field: f"{field} must be a JSON object."})
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError({field: f"{field} must be JSON-serializable (no NaN)."}) from None
    return value


def _when(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_datetime(str(value)) if isinstance(value, str) else None
    if parsed is None:
        raise ValidationError({field: f"{field} must be an ISO 8601 date-time."})
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    if parsed > timezone.now() + timedelta(minutes=5):
        raise ValidationError({field: f"{field} is in the future."})
    return parsed


def experiment_path_parse(path: str) -> tuple[str, str, str]:
    parts = [p for p in str(path or "").strip().strip("/").split("/")]
    if len(parts) != 3 or not all(parts):
        raise ValidationError({"experiment": "Name the experiment as workspace/project/experiment (slugs)."})
    return parts[0], parts[1], parts[2]


def external_experiment_resolve(*, user, path: str, create: bool = False) -> Experiment:
    """The experiment at ``ws/project/experiment``; with ``create`` an editor gets a new external one.

    Outsiders get ``Http404`` (as for any hidden row); a missing project is a 404 too.
    """
    ws, project_slug, exp_slug = experiment_path_parse(path)
    project = Project.objects.select_related("workspace").filter(workspace__slug=ws, slug=project_slug).first()
    role = workspace_role(user=user, workspace=project.workspace) if project else None
    if project is None or role is None:
        raise Http404("No such experiment.")
    experiment = (
        Experiment.objects.select_related("project", "workspace").filter(project=project, slug=exp_slug).first()
    )
    if experiment is not None:
        return experiment
    if not create:
        raise Http404(f"No experiment {exp_slug!r} in {ws}/{project_slug} (create_experiment=True creates it).")
    if not role_at_least(role, Role.EDITOR):
        raise PermissionDenied(f"Creating an experiment needs the editor role in workspace '{ws}'; you are {role}.")
    archive_require_active(workspace=project.workspace, project=project)  # SPEC §14: archived is read-only
    name = _clean_name(exp_slug)
    with transaction.atomic():
        slug = _unique_slug(Experiment, exp_slug, project=project)
        if slug != exp_slug:  # the slug is normalised (or taken): the caller named something else
            raise ValidationError({"experiment": f"{exp_slug!r} is not a valid experiment slug (try {slug!r})."})
        try:
            return Experiment.objects.create(
                project=project, workspace_id=project.workspace_id, name=name, slug=slug, created_by=user,
                description="External experiment: its runs are recorded by the molexp client.",
            )  # fmt: skip
        except IntegrityError:
            return Experiment.objects.select_related("project", "workspace").get(project=project, slug=exp_slug)


def _tags(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [t for t in value.split(",") if t.strip()]
    if isinstance(value, list | tuple) and all(isinstance(t, str) for t in value):
        return list(value)
    raise ValidationError({"tags": "tags is a list of strings (or a comma-separated string)."})


def _snapshot_bundle(snapshot: dict) -> tuple[code_snapshot.Bundle, str]:
    """The client's bundle as the server's ``Bundle`` (SPEC §12), every file checked; and the script's path.

    ``snapshot`` is ``{"script": path, "files": {path: {"sha256", "size", "content": base64}},
    "snapshot_hash": …}``: the client computes each file's SHA-256 and size, the server
    decodes the bytes and refuses any file whose bytes do not match them, unsafe paths,
    more than ``snapshot.MAX_FILES`` files, a bundle above ``MOLEXP_SNAPSHOT_MAX_BYTES`` and a
    ``snapshot_hash`` that is not the manifest's (``snapshot.manifest_hash``).
    """
    files = snapshot.get("files")
    if files is None:
        files = {}
    if not isinstance(files, dict):
        raise ValidationError({"snapshot": "snapshot.files is an object path → {sha256, size, content (base64)}."})
    if len(files) > code_snapshot.MAX_FILES:
        raise ValidationError({"snapshot": f"At most {code_snapshot.MAX_FILES} snapshot files."})
    limit = settings.MOLEXP_SNAPSHOT_MAX_BYTES
    out, total = [], 0
    for path, entry in files.items():
        path = str(path)
        pure = PurePosixPath(path)
        if (not path or path.startswith(("/", "\\")) or ".." in pure.parts or "\x00" in path or len(path) > 500
                or pure.as_posix() != path):  # fmt: skip
            raise ValidationError({"snapshot": f"Unsafe snapshot path {path[:100]!r}."})
        if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
            raise ValidationError({"snapshot": f"{path}: an entry is {{sha256, size, content (base64)}}."})
        try:
            content = base64.b64decode(entry["content"], validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError({"snapshot": f"{path}: content is not base64."}) from None
        total += len(content)
        if total > limit:
            raise ValidationError({"snapshot": f"The code snapshot is over MOLEXP_SNAPSHOT_MAX_BYTES ({limit:,})."})
        sha = hashlib.sha256(content).hexdigest()
        if entry.get("sha256") != sha or entry.get("size") != len(content):
            raise ValidationError({"snapshot": f"{path}: the bytes sent do not match its sha256/size."})
        out.append(code_snapshot.BundleFile(path=path, sha256=sha, size=len(content), source=Path(), data=content))
    bundle = code_snapshot.Bundle(files=tuple(sorted(out, key=lambda f: f.path)))
    sent_hash = snapshot.get("snapshot_hash")
    if sent_hash not in (None, "") and sent_hash != bundle.snapshot_hash:
        raise ValidationError({"snapshot": "snapshot_hash is not the hash of the files sent."})
    script = snapshot.get("script") or ""
    if not isinstance(script, str) or (script and script not in files):
        raise ValidationError({"snapshot": "snapshot.script names one of the snapshot's files."})
    return bundle, script


def _git_fields(git: dict) -> dict:
    """The client's git state under the names a worker run's snapshot uses (``gitstate.GitState``)."""
    untracked = git.get("untracked") or []
    if not isinstance(untracked, list):
        raise ValidationError({"git": "git.untracked is a list of paths."})
    count = git.get("untracked_count", len(untracked))
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValidationError({"git": "git.untracked_count is a non-negative integer."})
    state = git.get("workflow_state") or ""
    if state not in ("", COMMITTED, MODIFIED, UNTRACKED):
        raise ValidationError({"git": f"git.workflow_state is one of {COMMITTED}, {MODIFIED}, {UNTRACKED} or empty."})
    diff = str(git.get("diff") or "")
    if len(diff.encode()) > MAX_DIFF_BYTES:
        diff = diff.encode()[:MAX_DIFF_BYTES].decode(errors="ignore") + "\n[diff truncated]\n"
    return {
        "git_commit": str(git.get("commit") or "")[:64],
        "git_branch": str(git.get("branch") or "")[:255],
        "git_dirty": git.get("dirty") if isinstance(git.get("dirty"), bool) else None,
        "git_diff": diff,
        "git_untracked": [str(p)[:500] for p in untracked][:MAX_UNTRACKED],
        "git_untracked_count": max(count, len(untracked)),
        "git_workflow_state": state,
    }


# --- create -----------------------------------------------------------------------


def external_run_create(
    *,
    user,
    experiment: str,
    run_uuid: str,
    create_experiment: bool = False,
    config: dict | None = None,
    params: dict | None = None,
    profile: str = "",
    snapshot: dict | None = None,
    git: dict | None = None,
    environment: dict | None = None,
    host: str = "",
    pid: int | None = None,
    started_at: Any = None,
) -> tuple[Run, bool]:
    """Record the start of an external run; returns ``(run, created)``.

    Idempotent on ``run_uuid``: the same uuid again returns the existing run
    (``created`` False), whatever the rest of the body says.
    """
    try:
        key = uuid_module.UUID(str(run_uuid))
    except ValueError:
        raise ValidationError({"run_uuid": "run_uuid must be a UUID."}) from None
    existing = Execution.objects.select_related("run").filter(uuid=key).first()
    if existing is not None:
        if workspace_role(user=user, workspace=existing.run.workspace) is None:
            raise Http404("No such run.")
        return existing.run, False
    target = external_experiment_resolve(user=user, path=experiment, create=create_experiment)
    role = workspace_role(user=user, workspace=target.workspace)
    if not role_at_least(role, Role.EDITOR):
        raise PermissionDenied(f"Recording a run needs the editor role in workspace '{target.workspace.slug}'.")
    archive_require_active_experiment(experiment_id=target.pk)  # SPEC §14: archived is read-only
    config = _json_object(config, "config")
    params = _json_object(params, "params")
    snapshot = _json_object(snapshot, "snapshot")
    git = _json_object(git, "git")
    environment = _json_object(environment, "environment")
    if not isinstance(profile, str) or len(profile) > 200:
        raise ValidationError({"profile": "profile is a name of at most 200 characters."})
    host = str(host or "")[:255]
    if pid is not None and (not isinstance(pid, int) or pid < 0):
        raise ValidationError({"pid": "pid is a non-negative integer."})
    started = _when(started_at, "started_at") or timezone.now()
    bundle, script = _snapshot_bundle(snapshot)
    digest_config = compute_config_hash(config)
    by_path = {f.path: f for f in bundle.files}
    workflow_name = PurePosixPath(script).stem if script else ""
    molcfg = by_path.get(PurePosixPath(script or "x").with_name(MOLCFG_NAME).as_posix())
    script_file = by_path.get(script)
    # The same record as a worker run's (``LaunchPlan.snapshot``, SPEC §12), plus ``external``.
    record = {
        "external": True,
        "snapshot_hash": bundle.snapshot_hash,
        "files": bundle.manifest,
        "workflow_source": script,
        "workflow_name": workflow_name,
        "source_sha256": script_file.sha256 if script_file else "",
        "source_size": script_file.size if script_file else 0,
        "topology_hash": "",
        "tasks": [],
        "molcfg": molcfg.data.decode("utf-8", "replace") if molcfg else "",
        **_git_fields(git),
    }
    fingerprint = run_fingerprint(snapshot_hash=bundle.snapshot_hash, workflow_name=workflow_name,
                                  config_hash=digest_config, params=params)  # fmt: skip
    code_snapshot.bundle_store(bundle)  # content-addressed code/<aa>/<bb>/<sha256>, outside the transaction
    source_blob_id = _source_blob_id(content=script_file.data, sha256=script_file.sha256) if script_file else None
    launched_by = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        if Execution.objects.filter(uuid=key).exists():  # a concurrent create with the same uuid won
            return Execution.objects.select_related("run").get(uuid=key).run, False
        number, _ = _allocate_run_numbers(experiment_id=target.pk, count=1, source_sha256="")
        run = Run.objects.create(
            experiment=target, project_id=target.project_id, workspace_id=target.workspace_id, number=number,
            status=RunStatus.RUNNING, params=params, profile=profile, config=config, config_hash=digest_config,
            workflow_snapshot=record, fingerprint=fingerprint, source_blob_id=source_blob_id,
            launched_by=launched_by, started_at=started,
        )  # fmt: skip
        Run.objects.filter(pk=run.pk).update(created_at=started)
        run.created_at = started
        execution = Execution.objects.create(
            uuid=key, run=run, number=1, trigger=Trigger.EXTERNAL, status=ExecutionStatus.RUNNING,
            worker_hostname=host, worker_pid=pid, started_at=started, heartbeat_at=timezone.now(),
            dispatched_at=started, environment=environment,
        )  # fmt: skip
        Execution.objects.filter(pk=execution.pk).update(queued_at=started)
        where = f" on {host}" if host else ""
        RunEvent.objects.bulk_create(
            [
                RunEvent(run=run, subject=EventSubject.RUN, from_status=RunStatus.PENDING, to_status=RunStatus.RUNNING,
                         message=f"external run started by {user}{where}"),
                RunEvent(run=run, execution=execution, subject=EventSubject.EXECUTION, from_status="",
                         to_status=ExecutionStatus.RUNNING, message=f"external{where}"),
            ]
        )  # fmt: skip
    return run, True


# --- writes to a running external run ----------------------------------------------


def external_execution(*, user, run: Run) -> Execution:
    """The run's external execution, checking that ``user`` may write and the run is not finished."""
    return external_execution_for_write(user=user, run=run)


def _seq(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({"seq": "seq is a positive integer."}) from None
    if number <= 0 or number >= 2**62:
        raise ValidationError({"seq": "seq is a positive integer."})
    return number


def _apply_once(execution: Execution, seq: Any, write):
    """Apply the client's write batch number ``seq`` once: a resend (its answer was lost) is a no-op.

    The client sends batches in order and numbers them; the execution keeps the
    last number applied, in the same transaction as the write's rows. One conditional
    UPDATE both claims the number and takes the row lock (a concurrent resend waits on
    it, then finds the number taken); a failed write rolls the claim back with its rows.
    """
    seq = _seq(seq)
    if seq is None:
        return write()
    with transaction.atomic():
        if not Execution.objects.filter(pk=execution.pk, client_seq__lt=seq).update(client_seq=seq):
            return None
        return write()


def external_heartbeat(*, user, run: Run) -> dict:
    execution = external_execution(user=user, run=run)
    Execution.objects.filter(pk=execution.pk).update(heartbeat_at=timezone.now())
    cancel = Run.all_objects.filter(pk=run.pk).values_list("cancel_requested", flat=True).first()
    return {"status": run.status, "cancel_requested": bool(cancel)}


def external_logs_append(*, user, run: Run, logs: Any, seq: Any = None) -> dict:
    """Append ``{name: [line, …]}`` to the run's log assets (one segment write per log)."""
    execution = external_execution(user=user, run=run)
    if not isinstance(logs, dict):
        raise ValidationError({"logs": "logs is an object name → list of lines."})
    total = 0
    batches = []
    for name, lines in logs.items():
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise ValidationError({"logs": f"logs[{str(name)[:100]!r}] must be a list of strings."})
        total += len(lines)
        payload = "".join(line.replace("\n", " ") + "\n" for line in lines).encode("utf-8", errors="replace")
        batches.append((asset_services.asset_name_clean(str(name)), payload, len(lines)))
    if total > MAX_LOG_LINES_PER_REQUEST:
        raise ValidationError({"logs": f"At most {MAX_LOG_LINES_PER_REQUEST} lines per request."})
    return _logs_write(run=run, execution=execution, batches=batches, seq=seq)


def external_log_text_append(*, user, run: Run, name: Any, text: bytes, seq: Any = None) -> dict:
    """Append the lines of ``text`` (UTF-8, each line ending with ``\\n``) to the run's log ``name``.

    The client's fast path (a ``text/plain`` body): the bytes are the log segment as they
    come, with no per-line work; the line count is the number of newlines. A last line
    without its newline gets one.
    """
    execution = external_execution(user=user, run=run)
    if not isinstance(name, str) or not name:
        raise ValidationError({"name": "name (the log's name) is required."})
    if not isinstance(text, bytes | bytearray):
        raise ValidationError({"text": "Send the lines as a text/plain body."})
    if not text.isascii():  # ASCII (most logs) is UTF-8: a word-at-a-time scan instead of a decode
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError({"text": f"The body is not UTF-8 (byte {exc.start})."}) from None
    payload = bytes(text) if text.endswith(b"\n") or not text else bytes(text) + b"\n"
    count = payload.count(b"\n")
    if count > MAX_LOG_LINES_PER_REQUEST:
        raise ValidationError({"text": f"At most {MAX_LOG_LINES_PER_REQUEST} lines per request."})
    return _logs_write(run=run, execution=execution, batches=[(asset_services.asset_name_clean(name), payload, count)],
                       seq=seq)  # fmt: skip


def _logs_write(*, run: Run, execution: Execution, batches: list[tuple[str, bytes, int]], seq: Any) -> dict:
    """Write each ``(name, payload, lines)`` as one segment of that log, once per ``seq``."""
    total = sum(count for _name, _payload, count in batches)

    def write():
        for name, payload, count in batches:
            if count:
                asset = asset_services.log_open(run=run, execution=execution, name=name, task="")
                asset_services.log_append_payload(asset=asset, payload=payload, count=count)
        return total

    done = _apply_once(execution, seq, write)
    return {"lines": total, "duplicate": done is None}


def _point_time(value: Any, latest: float) -> datetime | None:
    """A point's time: Unix seconds (the client's clock when it logged it), or null for "now"."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= latest:
        raise ValidationError({"points": f"Bad time {str(value)[:40]}: Unix seconds, not in the future, or null."})
    return datetime.fromtimestamp(value, tz=UTC)


def external_metrics_add(*, user, run: Run, points: Any, seq: Any = None) -> dict:
    """Add metric points ``[[key, value, step|null, time|null], …]`` with the worker's batch insert.

    ``time`` (Unix seconds, optional) is when the client logged the point: a synced offline
    run or a batch resent after a network cut keeps its original times (``Metric.created_at``).
    """
    from ..workflow.context import _insert_metric_points

    execution = external_execution(user=user, run=run)
    if not isinstance(points, list):
        raise ValidationError({"points": "points is a list of [key, value, step]."})
    if len(points) > MAX_METRIC_POINTS_PER_REQUEST:
        raise ValidationError({"points": f"At most {MAX_METRIC_POINTS_PER_REQUEST} points per request."})
    rows = []
    run_id, execution_id = run.pk, execution.pk
    latest = timezone.now().timestamp() + CLOCK_SKEW_SECONDS
    for point in points:
        if not isinstance(point, list | tuple) or len(point) not in (2, 3, 4):
            raise ValidationError(
                {"points": "Each point is [key, value], [key, value, step] or [key, value, step, time]."}
            )
        key, value = point[0], point[1]
        step = point[2] if len(point) >= 3 else None
        when = _point_time(point[3], latest) if len(point) == 4 else None
        if not isinstance(key, str) or not key or isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError({"points": f"Bad point {str(point)[:100]}: a name and a number."})
        if step is not None and (isinstance(step, bool) or not isinstance(step, int) or abs(step) >= 2**63):
            raise ValidationError({"points": f"Bad step in {str(point)[:100]}: an integer or null."})
        if not math.isfinite(float(value)):
            continue  # as the worker's ctx: non-finite values are not stored
        rows.append(MetricPoint(run_id, execution_id, key[:200], step, float(value), when))

    def write():
        if rows:
            _insert_metric_points(rows)
        return len(rows)

    done = _apply_once(execution, seq, write)
    return {"points": len(rows), "duplicate": done is None}


def external_results_set(*, user, run: Run, results: Any, seq: Any = None) -> dict:
    execution = external_execution(user=user, run=run)
    results = _json_object(results, "results")

    def write():
        with transaction.atomic():
            current = Run.objects.select_for_update().get(pk=run.pk)
            merged = {**(current.results or {}), **{str(k): v for k, v in results.items()}}
            Run.objects.filter(pk=run.pk).update(results=merged, updated_at=timezone.now())
        return merged

    merged = _apply_once(execution, seq, write)
    return merged if merged is not None else dict(Run.objects.get(pk=run.pk).results or {})


def external_checkpoint_save(*, user, run: Run, name: str, data: Any = None, seq: Any = None, tags: Any = ()):
    """A ``CheckpointAsset`` (JSON data, no file) chained to the run's previous one (None when ``seq`` was
    applied before). A checkpoint with a file comes through the tus endpoint (``upload_publish``)."""
    execution = external_execution(user=user, run=run)
    tags = _tags(tags)
    return _apply_once(execution, seq, lambda: asset_services.checkpoint_create(
        run=run, execution=execution, task="", name=name, data=data, tags=tags,
    ))  # fmt: skip


def external_input_resolve(*, user, run: Run, name: str, kind: str | None = None, version: int | None = None):
    """``find_asset`` for an external run: the asset (records an ``AssetUse``) or ``Http404`` naming the scopes."""
    execution = external_execution(user=user, run=run)
    if kind is not None and not isinstance(kind, str):
        raise ValidationError({"kind": "kind is an asset kind name."})
    try:
        return asset_services.asset_resolve_for_run(
            run=run, execution=execution, task="", name=name, kind=kind or None, version=version
        )
    except asset_services.AssetLookupError as exc:
        raise Http404(str(exc)) from None


def external_run_finish(*, user, run: Run, status: str, error: Any = None, finished_at: Any = None) -> Run:
    """End the run ``succeeded`` or ``failed`` (with the structured error and an error-trace asset)."""
    execution = external_execution(user=user, run=run)
    if status not in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED):
        raise ValidationError({"status": "status is 'succeeded' or 'failed'."})
    finished = _when(finished_at, "finished_at")
    from assets_app.selectors import log_list_for_run

    for log in log_list_for_run(run=run):
        asset_services.log_finalize(asset=log.as_kind())
    record = None
    if status == ExecutionStatus.FAILED:
        error = _json_object(error, "error")
        exc_type = str(error.get("type") or "Exception")[:255]
        message = str(error.get("message") or "")[:4000]
        frames = [
            (str(f[0]), str(f[1])) for f in (error.get("frames") or []) if isinstance(f, list | tuple) and len(f) == 2
        ]
        trace = asset_services.error_trace_create(
            run=run, execution=execution, task="", exception_type=exc_type, message=message,
            traceback_text=str(error.get("traceback") or f"{exc_type}: {message}"), frames=frames[-200:],
        )  # fmt: skip
        record = {"type": exc_type, "message": message, "task": None, "execution": execution.number,
                  "traceback_asset": trace.pk}  # fmt: skip
    message = "external run finished" if record is None else f"external run failed: {record['type']}"
    _finish(execution=execution, run=run, status=status, message=message, error=record)
    if finished is not None:
        Run.objects.filter(pk=run.pk).update(finished_at=finished)
        Execution.objects.filter(pk=execution.pk).update(finished_at=finished)
    run.refresh_from_db()
    return run
