"""RunContext: what a task's ``ctx`` offers (SPEC §6).

Invariants:
- Asset writes go through ``assets_app.services``; metric and result rows are
  this app's own.
- Log lines and metric points are buffered in memory and flushed by one
  background thread at least every second, at the end of every task and at the
  end of the execution; each flush costs one database round trip per log and
  one for all metric points. A line or point counts as recorded once flushed.
- The same thread writes the execution's heartbeat every
  ``MOLEXP_HEARTBEAT_SECONDS`` and polls the run's cancel flag every second;
  ``check_cancel`` (called between tasks and on every write) only reads a flag.
- Artifact writes are atomic (see ``assets_app.services.blob_store_chunks``).
- From ``start()`` to ``close()`` what tasks print or log goes into their
  ``<task>.stdout`` logs (``capture.py``); ``close()`` puts the streams back.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from assets_app import services as asset_services

from ..models import Execution, Metric, Run
from .capture import TaskOutput, capture_start, capture_stop, exclude_this_thread
from .current import current_task
from .errors import AssetNotFound, RunCancelled

logger = logging.getLogger(__name__)

#: Lines buffered per log before an append flushes by itself.
LOG_BUFFER_LINES = 50_000
METRIC_BUFFER_POINTS = 50_000
#: An execution younger than this is not health-checked again before its next writes: its connection
#: was checked when the task began (Celery's Django fixup) and used by the claim moments ago, and each
#: check costs a ``SELECT 1`` round trip (two or three per quick run). Longer ones are checked as before.
RECHECK_AFTER = timedelta(seconds=1)


def _insert_metric_points(points: list) -> None:
    """Write a flush's metric points with one database statement.

    ``points``: ``Metric`` objects, or any objects with ``run_id``, ``execution_id``,
    ``key``, ``step``, ``value`` and optionally ``created_at`` (the external-run endpoint
    sends plain tuples carrying the time the client logged each point: building 50 000
    model instances costs more than the insert). A point without a time gets now.
    PostgreSQL: one ``COPY … FROM STDIN`` statement, whatever the batch size, sent in
    autocommit (a single statement is atomic; ``bulk_create`` would add a BEGIN and a
    COMMIT round trip); psycopg formats its rows in C, where an ``INSERT … unnest(arrays)``
    had the arrays turned into SQL text in Python, element by element (3× the CPU per
    point). Other databases: ``bulk_create``
    (SQLite runs in process: its batches cost no network round trips), or, for points
    with their own times (``created_at`` is ``auto_now_add``: ``bulk_create`` would
    overwrite it), one parametrized ``executemany`` INSERT.
    """
    meta = Metric._meta
    quote = connection.ops.quote_name
    now = timezone.now()
    fields = ("run", "execution", "key", "step", "value", "created_at")
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
    timed = not isinstance(points[0], Metric) and any(getattr(p, "created_at", None) for p in points)
    if connection.vendor != "postgresql" or (connection.in_atomic_block and isinstance(points[0], Metric)):
        if timed:
            sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)"  # noqa: S608
            adapt = connection.ops.adapt_datetimefield_value
            rows = [(p.run_id, p.execution_id, p.key, p.step, p.value, adapt(p.created_at or now)) for p in points]
            with connection.cursor() as cursor:
                cursor.executemany(sql, rows)
            return
        Metric.objects.bulk_create(
            [p if isinstance(p, Metric) else Metric(run_id=p.run_id, execution_id=p.execution_id, key=p.key,
                                                    step=p.step, value=p.value) for p in points]
        )  # fmt: skip
        return
    # Identifiers come from the model's meta, quoted; every value is a row field, never SQL.
    copy_sql = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        write_row = copy.write_row
        for p in points:
            write_row((p.run_id, p.execution_id, p.key, p.step, p.value, (timed and p.created_at) or now))


class LogWriter:
    """Buffered appender for one named log of the run."""

    def __init__(self, ctx: RunContext, name: str, task: str | None = None) -> None:
        self._ctx = ctx
        self.name = name
        # The producing task, taken when the writer is made: the first flush may happen on the
        # background thread, where no task is active.
        self.task = task if task is not None else ctx.task
        self._asset = None
        self._buffer: list[str] = []
        self._uncounted = (0, 0)
        self._lock = threading.Lock()

    def append(self, line: Any) -> None:
        self._ctx.check_cancel()
        text = str(line)
        with self._lock:
            if "\n" in text.rstrip("\n"):
                self._buffer.extend(text.rstrip("\n").split("\n"))
            else:
                self._buffer.append(text)
            full = len(self._buffer) >= LOG_BUFFER_LINES
        if full:
            self.flush()

    def extend(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.append(line)

    def write_lines(self, lines: list[str]) -> None:
        """Buffer captured output lines: no cancellation check, and never raises into the task.

        What a task prints must not fail it: a flush that fails here (a full buffer while
        the database restarts) is logged, not raised.
        """
        with self._lock:
            self._buffer.extend(lines)
            full = len(self._buffer) >= LOG_BUFFER_LINES
        if full:
            try:
                self.flush()
            except Exception:
                logger.warning("log %s: flush of captured output failed; will retry", self.name, exc_info=True)

    @property
    def asset(self):
        if self._asset is None:
            self._asset = asset_services.log_open(
                run=self._ctx.run, execution=self._ctx.execution, name=self.name, task=self.task or ""
            )
        return self._asset

    def flush(self) -> None:
        with self._lock:
            lines, self._buffer = self._buffer, []
            if not lines and self._uncounted == (0, 0):
                return
            uncounted, self._uncounted = self._uncounted, (0, 0)
            try:
                asset_services.log_append_lines(asset=self.asset, lines=lines, uncounted=uncounted)
            except asset_services.LogCountPending as pending:
                # The lines are in the file; only their count is owed to the row.
                self._uncounted = (pending.lines, pending.size)
                raise

    def finalize(self) -> None:
        self.flush()
        if self._asset is not None:
            asset_services.log_finalize(asset=self._asset)


class ArtifactStore:
    """``ctx.artifact``: save task outputs as versioned ``ArtifactAsset`` rows."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx

    def save(self, name: str, data: Any, *, tags: Iterable[str] = (), metadata: dict | None = None):
        """Save bytes, str, a path (``pathlib.Path``), a file object or a JSON-serializable object.

        A ``str`` is saved as text (use ``Path`` for a file on disk). Saving a
        name twice in a run makes version 2. Returns the ``ArtifactAsset``.
        """
        self._ctx.check_cancel()
        staged, media_type = self._stage(name, data)
        try:
            # ``staged``: one transaction from the blob's claim to the row that references it, one
            # commit (docs/lifecycle.md, "a writer inside a larger transaction"). The bytes are written
            # and hashed before it begins: no transaction is open while they are.
            return asset_services.asset_create(
                kind="artifact",
                name=name,
                run=self._ctx.run,
                staged=staged,
                media_type=media_type,
                tags=tags,
                metadata=metadata,
                producer_execution=self._ctx.execution,
                producer_task=self._ctx.task or "",
            )
        finally:
            staged.path.unlink(missing_ok=True)

    def _stage(self, name: str, data: Any) -> tuple[asset_services.StagedBlob, str]:
        """``data`` written to a temporary file (``blob_stage_chunks``) and its media type ("": from the name)."""
        stage = asset_services.blob_stage_chunks
        media_type = ""
        if isinstance(data, bytes | bytearray | memoryview):
            staged = stage([bytes(data)])
        elif isinstance(data, str):
            staged = stage([data.encode("utf-8")])
            if "." not in name.rsplit("/", 1)[-1]:
                media_type = "text/plain"
        elif isinstance(data, Path):
            path = data if data.is_absolute() else Path(self._ctx.workdir) / data
            with open(path, "rb") as fh:
                staged = stage(asset_services.fileobj_chunks(fh))
        elif hasattr(data, "read"):
            staged = stage(asset_services.fileobj_chunks(data))
        else:
            try:
                payload = json.dumps(data, ensure_ascii=False, indent=None, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"artifact.save({name!r}): data must be bytes, str, a Path, a file object or JSON-serializable ({exc})"
                ) from None
            staged = stage([payload.encode("utf-8")])
            media_type = "application/json"
        return staged, media_type


class RunContext:
    """The ``ctx`` every task receives: the run's params, config, work directory and record writers."""

    def __init__(self, *, run: Run, execution: Execution, workdir: Path) -> None:
        self.run = run
        self.execution = execution
        self.params: dict = dict(run.params or {})
        self.config: dict = dict(run.config or {})
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.artifact = ArtifactStore(self)
        self._logs: dict[str, LogWriter] = {}
        self._logs_lock = threading.Lock()
        self._metrics: list[Metric] = []
        self._metrics_lock = threading.Lock()
        self._results: dict = dict(run.results or {})
        self._results_lock = threading.Lock()
        self._cancel = threading.Event()
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._heartbeat_every = float(settings.MOLEXP_HEARTBEAT_SECONDS)
        self._output: TaskOutput | None = None

    # --- identity ---
    @property
    def task(self) -> str | None:
        """The name of the task running on this thread."""
        return current_task()

    # --- lifecycle (called by the worker) ---
    def start(self) -> None:
        """Start the background thread and capture what tasks print into ``<task>.stdout`` logs."""
        self._output = capture_start(self)
        self._thread = threading.Thread(target=self._background, name=f"ctx-run-{self.run.pk}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop capturing and the background thread, then flush and finalize everything buffered."""
        if self._output is not None:
            capture_stop(self._output)
            self._output = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        started = self.execution.started_at
        if not connection.in_atomic_block and (started is None or timezone.now() - started >= RECHECK_AFTER):
            close_old_connections()  # reconnect if the database restarted while the task computed
        self.flush()
        for writer in list(self._logs.values()):
            writer.finalize()

    def _background(self) -> None:
        exclude_this_thread()  # what this thread logs belongs to the worker, not to a task
        last_beat = 0.0
        try:
            while not self._stop.wait(timeout=0.5):
                now = time.monotonic()
                try:
                    self.flush()
                    if now - last_beat >= self._heartbeat_every:
                        Execution.objects.filter(pk=self.execution.pk).update(heartbeat_at=timezone.now())
                        last_beat = now
                    if Run.all_objects.filter(pk=self.run.pk, cancel_requested=True).exists():
                        self._cancel.set()
                except Exception:  # a transient DB error must not kill the heartbeat thread
                    logger.exception("run %s: background flush/heartbeat failed; will retry", self.run.pk)
                    close_old_connections()
        finally:
            connection.close()

    # --- task boundaries (called by the engine on the thread that runs the task) ---
    def task_thread_started(self, task: str) -> None:
        if self._output is not None:
            self._output.active_task = task

    def task_thread_done(self) -> None:
        """The task finished on this thread: its partial output line goes to its log now."""
        if self._output is not None:
            self._output.flush_thread()

    # --- cancellation ---
    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def check_cancel(self) -> None:
        if self._cancel.is_set():
            raise RunCancelled(f"{self.run.experiment.name} #{self.run.number} was asked to cancel")

    def request_cancel(self) -> None:
        self._cancel.set()

    # --- writers ---
    def log(self, name: str, *, task: str | None = None) -> LogWriter:
        """The run's log called ``name`` (a ``LogAsset``), created on first write.

        ``task`` names the producing task when the caller is not on that task's thread
        (captured output of a thread the task started); by default the active task.
        """
        with self._logs_lock:
            writer = self._logs.get(name)
            if writer is None:
                writer = self._logs[name] = LogWriter(self, name, task)
            return writer

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Buffer one metric point; written in batches (one INSERT per flush)."""
        self.check_cancel()
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"log_metric({key!r}): value {value!r} is not a number") from None
        if step is not None and not isinstance(step, int):
            raise TypeError(f"log_metric({key!r}): step must be an int")
        if not math.isfinite(number):
            # NaN/inf cannot be stored portably (SQLite turns NaN into NULL) and would break
            # the whole batch; a diverging run must still be visible, so say so in a log.
            self.log("metrics").append(f"dropped non-finite value {number} for {key!r} at step {step}")
            return
        point = Metric(run_id=self.run.pk, execution_id=self.execution.pk, key=str(key)[:200], step=step, value=number)
        with self._metrics_lock:
            self._metrics.append(point)
            full = len(self._metrics) >= METRIC_BUFFER_POINTS
        if full:
            self.flush()

    def set_result(self, key: str, value: Any) -> None:
        """Set ``results[key]`` on the run (JSON-serializable), written at once."""
        self.check_cancel()
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"set_result({key!r}): value is not JSON-serializable ({exc})") from None
        with self._results_lock:
            self._results[str(key)] = value
            Run.objects.filter(pk=self.run.pk).update(results=dict(self._results))
            self.run.results = dict(self._results)

    def checkpoint(
        self,
        name: str,
        data: Any = None,
        file: bytes | str | Path | IO[bytes] | None = None,
        *,
        tags: Iterable[str] = (),
    ):
        """Save a ``CheckpointAsset`` (JSON ``data`` and/or a ``file``), chained to the previous one.

        ``tags`` are the asset's tags (``tag:best`` in the catalog, editable later like any asset's).
        """
        self.check_cancel()
        blob = None
        if file is not None:
            if isinstance(file, bytes | bytearray):
                blob = asset_services.blob_store_bytes(bytes(file))
            elif isinstance(file, str | Path):
                path = Path(file)
                blob = asset_services.blob_store_path(path if path.is_absolute() else self.workdir / path)
            elif hasattr(file, "read"):
                blob = asset_services.blob_store_fileobj(file)
            else:
                raise TypeError("checkpoint(file=...) takes bytes, a path or a file object")
        return asset_services.checkpoint_create(
            run=self.run, execution=self.execution, task=self.task or "", name=name, data=data, blob=blob, tags=tags
        )

    def find_asset(self, name: str, kind: str | None = None, version: int | str | None = None):
        """Newest (or pinned) asset ``name`` from run → experiment → project → workspace; records the use.

        ``version`` is a number or an alias (``"paper"``); ``find_asset("esol@paper")`` is the same.
        """
        try:
            return asset_services.asset_resolve_for_run(
                run=self.run, execution=self.execution, task=self.task or "", name=name, kind=kind, version=version
            )
        except asset_services.AssetLookupError as exc:
            raise AssetNotFound(str(exc)) from None

    def flush(self) -> None:
        """Write buffered log lines and metric points now."""
        with self._flush_lock:
            for writer in list(self._logs.values()):
                writer.flush()
            with self._metrics_lock:
                points, self._metrics = self._metrics, []
            if points:
                try:
                    _insert_metric_points(points)
                except Exception:
                    # A failed write (database restarting) must not drop the batch: the next flush retries it.
                    with self._metrics_lock:
                        self._metrics[:0] = points
                    raise
