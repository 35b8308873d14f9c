"""A run recorded from anywhere: the ``ctx`` of SPEC §6 over HTTP (or into an offline spool).

Invariants:
- The training loop never waits on the network: ``log().append``,
  ``log_metric``, ``set_result``, ``artifact.save`` and ``checkpoint`` only
  buffer (artifact and checkpoint bytes are copied to a local spool file at
  once); one background thread sends batches, retrying with backoff while the
  server is unreachable, and beats the heartbeat.
- Only ``find_asset`` asks the server synchronously (it needs the answer); it
  retries too.
- A spooled file is released once the server has it (``_spool``: removed, or
  kept to be overwritten by the next save), so a long run that saves a
  checkpoint per epoch does not fill the disk.
- Leaving the block flushes everything, then records ``succeeded``; an
  exception records ``failed`` with the structured error and is re-raised.
- Offline, the same events go to a spool folder; ``molexp sync`` replays them
  (``sync_dir``) as one run, keyed by the run's uuid: syncing twice is one run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ._events import _event_lines, _log_chunks, _log_lines_text, send_event
from ._http import Http, MolExpError, TransientError
from ._record import calling_script, environment, git_state, snapshot_bundle
from ._spool import SpoolFiles

#: A JSON request body stays under the server's default body limit (Django: 2.5 MB).
MAX_REQUEST_BYTES = 2_000_000
MAX_POINTS_PER_REQUEST = 50_000
#: One log batch is a text/plain body (the server takes up to 16 MiB and 500 000 lines).
MAX_LOG_BATCH_BYTES = 8 * 1024 * 1024
MAX_LINES_PER_REQUEST = 500_000
#: The sender sends what is buffered every SEND_EVERY_SECONDS. In between it looks every
#: SEND_POLL_SECONDS: once SEND_AT_ITEMS metric points wait it sends them; once SEND_AT_ITEMS
#: lines wait it only *takes* them (joined and encoded, the line objects freed: a fast loop's
#: memory stays small and warm) and sends what it took once SEND_AT_BYTES are ready, so a fast
#: loop makes one request per MAX_LOG_BATCH_BYTES, not one per SEND_AT_ITEMS lines (each request
#: costs the server ~20 ms of CPU); a slow trickle still makes one request per SEND_EVERY_SECONDS.
SEND_EVERY_SECONDS = 0.5
SEND_POLL_SECONDS = 0.02
SEND_AT_ITEMS = 50_000
SEND_AT_BYTES = MAX_LOG_BATCH_BYTES // 2


class AssetNotFound(MolExpError):
    """``find_asset`` found no asset of that name (the message lists the scopes searched)."""


class RunCancelled(MolExpError):
    """Someone cancelled the run on the server: raised by the next ``ctx`` write (as in a worker's ctx)."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _cache_dir() -> Path:
    return Path(os.environ.get("MOLEXP_CACHE_DIR") or os.path.expanduser("~/.cache/molexp"))


def offline_dir() -> Path:
    return Path(os.environ.get("MOLEXP_OFFLINE_DIR") or (_cache_dir() / "offline"))


class LogWriter:
    """``ctx.log(name)``: buffered lines of one named log (one writer per name).

    While the run goes on, ``append`` and ``extend`` *are* the log queue's
    ``list.append``/``extend`` (a C call, atomic, no lock: the cheapest write a
    training loop can make; the sender takes the queue's head with one slice and one
    ``del``, each atomic, and appends only ever add at its end). The sender turns what
    it takes into text: ``str(item)``
    then (within ``SEND_EVERY_SECONDS``), trailing newlines dropped, one line per
    inner newline — pass a ``str`` to freeze a mutable object's text. Once the run
    is cancelled on the server, both raise ``RunCancelled``.
    """

    __slots__ = ("_run", "_queue", "name", "append", "extend")

    def __init__(self, run: Run, name: str) -> None:
        self._run = run
        self.name = name
        self._queue = run._log_queue(name)
        self.append = self._queue.append
        self.extend = self._queue.extend

    def _refuse(self, *_args: Any) -> None:
        self._run.check_cancel()

    def _cancelled(self) -> None:
        self.append = self.extend = self._refuse


class ArtifactStore:
    """``ctx.artifact``."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def save(self, name: str, data: Any, *, tags: Iterable[str] = (), metadata: dict | None = None) -> None:
        """Save bytes, str, a ``Path``, a file object or a JSON-serializable object (uploaded in the background)."""
        path, media_type = self._run._files.copy(data)
        self._run._event({"t": "artifact", "name": name, "file": str(path), "tags": list(tags),
                          "metadata": metadata, "media_type": media_type})  # fmt: skip


class Run:
    """The context manager ``Client.start_run`` returns; inside the block it is the ``ctx``."""

    def __init__(
        self,
        *,
        http: Http | None,
        experiment: str,
        config: dict | None = None,
        params: dict | None = None,
        profile: str = "",
        create_experiment: bool = False,
        offline: bool = False,
        script: str | os.PathLike | None = None,
        heartbeat_seconds: float | None = None,
    ) -> None:
        self.experiment = experiment
        self.config: dict = dict(config or {})
        self.params: dict = dict(params or {})
        self.profile = profile
        self.offline = offline
        self.uuid = str(uuid.uuid4())
        self.id: int | None = None
        self.number: int | None = None
        self.url: str = ""
        self.artifact = ArtifactStore(self)
        self._http = http
        self._create_experiment = create_experiment
        self._script = Path(script).resolve() if script else calling_script()
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # one sender at a time: the background thread or flush()
        self._logs: dict[str, list] = {}
        #: Lines taken from a log's queue but not yet numbered as events: (UTF-8 bytes, line count)
        #: pieces per log, in order (only the thread holding ``_send_lock`` touches them).
        self._staged: dict[str, list[tuple[bytes, int]]] = {}
        self._staged_bytes = 0
        self._writers: dict[str, LogWriter] = {}
        self._cancelled = False
        self._points: list[list[Any]] = []
        self._ops: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._seq = 0
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._dead = ""
        self._heartbeat_every = float(heartbeat_seconds or os.environ.get("MOLEXP_HEARTBEAT_SECONDS", 10))
        self._retry_max = float(os.environ.get("MOLEXP_RETRY_MAX_SECONDS", 10))
        self.spool = (offline_dir() if offline else _cache_dir() / "spool") / self.uuid
        self._files = SpoolFiles(self.spool / "files", keep=not offline)
        self._events_fh: IO[str] | None = None
        self.sent = {"lines": 0, "points": 0, "retries": 0}

    # --- ctx API -------------------------------------------------------------------
    @property
    def run(self) -> dict[str, Any]:
        """The run as the server knows it: ``{"id", "number", "url", "uuid"}`` (id None while offline)."""
        return {"id": self.id, "number": self.number, "url": self.url, "uuid": self.uuid}

    @property
    def task(self) -> None:
        """Outside a workflow there is no task (SPEC §6 ``ctx.task``)."""
        return None

    @property
    def workdir(self) -> Path:
        return Path.cwd()

    def log(self, name: str) -> LogWriter:
        with self._lock:
            writer = self._writers.get(name)
        if writer is None:
            writer = LogWriter(self, name)
            with self._lock:
                writer = self._writers.setdefault(name, writer)
            if self._cancelled:
                writer._cancelled()
        return writer

    def _log_queue(self, name: str) -> list:
        with self._lock:
            return self._logs.setdefault(name, [])

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.check_cancel()
        number = float(value)  # TypeError/ValueError for a non-number, as the worker's ctx
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise TypeError(f"log_metric({key!r}): step must be an int")
        with self._lock:
            self._points.append([str(key), number, step, time.time()])  # the time is kept by the server

    def set_result(self, key: str, value: Any) -> None:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"set_result({key!r}): value is not JSON-serializable ({exc})") from None
        self._event({"t": "result", "results": {str(key): value}})

    def checkpoint(self, name: str, data: Any = None, file: Any = None, *, tags: Iterable[str] = ()) -> None:
        json.dumps(data)  # TypeError at once for data that is not JSON-serializable
        path = self._files.copy(file)[0] if file is not None else None
        self._event({"t": "checkpoint", "name": name, "data": data, "file": str(path) if path else None,
                     "tags": list(tags)})  # fmt: skip

    def find_asset(self, name: str, kind: str | None = None, version: int | None = None) -> Path:
        """A local path to the asset's bytes (cached by sha256); records the use (lineage)."""
        cache = _cache_dir() / "assets"
        index = cache / "index.json"
        if self.offline or self._http is None:
            known = json.loads(index.read_text()) if index.exists() else {}
            sha = known.get(name)
            if not sha or not (cache / sha).exists():
                raise AssetNotFound(f"find_asset({name!r}) offline: not in the local cache (fetch it online once)")
            self._event({"t": "input", "name": name, "kind": kind, "version": version})
            return cache / sha
        info = self._retrying(
            lambda: self._http.post(  # type: ignore[union-attr]
                f"/api/external/runs/{self.id}/inputs/", json={"name": name, "kind": kind, "version": version}
            ),
            what=f"find_asset({name!r})",
            not_found=AssetNotFound,
        )
        sha = info["sha256"]
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / sha
        if not target.exists() or target.stat().st_size != info["size"]:
            self._retrying(lambda: self._http.download(info["content_url"], target), what=f"download {name}")  # type: ignore[union-attr]
            digest = hashlib.sha256()
            with open(target, "rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    digest.update(chunk)
            if digest.hexdigest() != sha:
                target.unlink()
                raise MolExpError(f"find_asset({name!r}): downloaded bytes do not match sha256 {sha}")
        known = json.loads(index.read_text()) if index.exists() else {}
        known[name] = sha
        index.write_text(json.dumps(known))
        return target

    # --- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> Run:
        root = self._script.parent if self._script else Path.cwd()
        record = {
            "experiment": self.experiment,
            "run_uuid": self.uuid,
            "create_experiment": self._create_experiment,
            "config": self.config,
            "params": self.params,
            "profile": self.profile,
            "snapshot": snapshot_bundle(root, self._script),
            "git": git_state(root, self._script),
            "environment": {**environment(), "script_root": str(root)},
            "host": environment()["hostname"],
            "pid": os.getpid(),
            "started_at": _now(),
        }
        self.spool.mkdir(parents=True, exist_ok=True)
        if self.offline:
            (self.spool / "record.json").write_text(json.dumps(record), encoding="utf-8")
            self._events_fh = open(self.spool / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
            self._thread = threading.Thread(target=self._background_offline, name="molexp-spool", daemon=True)
        else:
            body = self._retrying(
                lambda: self._http.post("/api/external/runs/", json=record),
                what="start_run",  # type: ignore[union-attr]
            )
            self.id, self.number, self.url = body["id"], body["number"], body.get("url", "")
            self._thread = threading.Thread(target=self._background, name=f"molexp-run-{self.id}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        error = None
        if exc_type is not None and not issubclass(exc_type, RunCancelled):  # a cancel ends "cancelled"
            error = {
                "type": exc_type.__name__,
                "message": str(exc)[:4000],
                "traceback": "".join(traceback.format_exception(exc_type, exc, tb)),
                "frames": [[fs.filename, fs.name] for fs in traceback.extract_tb(tb)],
            }
        self.finish(error=error)
        return False  # an exception is re-raised

    def finish(self, error: dict | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        status = "failed" if error else "succeeded"
        finish = {"status": status, "error": error, "finished_at": _now()}
        if self.offline:
            self._spool_write()
            assert self._events_fh is not None
            self._events_fh.close()
            (self.spool / "finish.json").write_text(json.dumps(finish), encoding="utf-8")
            return
        drained = self._drain()
        self._files.close()  # the kept copy (sent already) goes whatever happens next
        if not drained:
            print(f"molexp: run {self.id}: server unreachable; unsent data kept in {self.spool}", file=sys.stderr)
            return
        if self._dead:
            print(f"molexp: run {self.id}: {self._dead}", file=sys.stderr)
            return
        self._retrying(
            lambda: self._http.post(f"/api/external/runs/{self.id}/finish/", json=finish),  # type: ignore[union-attr]
            what="finish",
        )
        shutil.rmtree(self.spool, ignore_errors=True)

    def flush(self) -> bool:
        """Send everything buffered so far and return once the server has it (as a worker ctx's ``flush``).

        Retries while the server is unreachable, up to ``MOLEXP_FLUSH_TIMEOUT_SECONDS``; returns False
        if the data is still unsent then (it stays buffered and the background sender keeps trying).
        Offline, writes the buffered events to the spool.
        """
        if self.offline:
            with self._send_lock:
                self._spool_write()
            return True
        return self._drain()

    # --- internals -------------------------------------------------------------------
    def _drain(self) -> bool:
        """Send all pending writes in the foreground (with the background sender's lock), retrying."""
        deadline = time.monotonic() + float(os.environ.get("MOLEXP_FLUSH_TIMEOUT_SECONDS", 300))
        while not self._dead:
            try:
                with self._send_lock:
                    self._send_pending(final=True)
                return True
            except TransientError:
                if time.monotonic() > deadline:
                    return False
                self.sent["retries"] += 1
                time.sleep(min(self._retry_max, 1.0))
        return True

    def _cancel_seen(self) -> None:
        self._cancel.set()
        self._cancelled = True
        with self._lock:
            writers = list(self._writers.values())
        for writer in writers:
            writer._cancelled()

    def check_cancel(self) -> None:
        """Raise ``RunCancelled`` once the server asked to cancel (seen with the heartbeat)."""
        if self._cancel.is_set():
            raise RunCancelled(f"run {self.id} was cancelled on the server")

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def _event(self, event: dict[str, Any]) -> None:
        self.check_cancel()
        with self._lock:
            self._ops.append(event)

    def _stage_logs(self) -> None:
        """Take every log's queued lines into encoded pieces (``_staged``); called with ``_send_lock``."""
        with self._lock:
            queues = list(self._logs.items())
        for name, queue in queues:
            count = len(queue)  # appends after this point stay queued for the next take
            if not count:
                continue
            items = queue[:count]  # a copy of the head, then the head goes: appends land after it
            del queue[:count]
            text, lines = _log_lines_text(items)
            del items  # the line objects go now, not after the send
            data = text.encode("utf-8", errors="replace")
            del text
            self._staged.setdefault(name, []).append((data, lines))
            self._staged_bytes += len(data)

    def _log_events(self) -> list[dict[str, Any]]:
        """The staged pieces as log events: per log, pieces joined up to MAX_LOG_BATCH_BYTES and
        MAX_LINES_PER_REQUEST per request (a piece larger than that is cut at line ends)."""
        events: list[dict[str, Any]] = []
        staged, self._staged, self._staged_bytes = self._staged, {}, 0
        for name, pieces in staged.items():
            batch: list[bytes] = []
            size = lines = 0
            for data, count in pieces:
                if batch and (size + len(data) > MAX_LOG_BATCH_BYTES or lines + count > MAX_LINES_PER_REQUEST):
                    events.append({"t": "log", "name": name, "data": b"".join(batch), "lines": lines})
                    batch, size, lines = [], 0, 0
                if len(data) > MAX_LOG_BATCH_BYTES or count > MAX_LINES_PER_REQUEST:
                    for chunk in _log_chunks(data, MAX_LOG_BATCH_BYTES, MAX_LINES_PER_REQUEST, count):
                        events.append({"t": "log", "name": name, "data": chunk, "lines": chunk.count(b"\n")})
                    continue
                batch.append(data)
                size, lines = size + len(data), lines + count
            if batch:
                events.append({"t": "log", "name": name, "data": batch[0] if len(batch) == 1 else b"".join(batch),
                               "lines": lines})  # fmt: skip
        return events

    def _take(self) -> list[dict[str, Any]]:
        """Move what is buffered into a list of events (log lines and points first, then ops in order)."""
        self._stage_logs()
        with self._lock:
            points, self._points = self._points, []
            ops, self._ops = self._ops, []
        events = self._log_events()
        start = 0
        while start < len(points):
            end, size = start, 0
            while end < len(points) and end - start < MAX_POINTS_PER_REQUEST and size < MAX_REQUEST_BYTES:
                size += len(points[end][0]) + 68
                end += 1
            events.append({"t": "metric", "points": points[start:end]})
            start = end
        events += ops
        for event in events:  # numbered in sending order: the server applies each number once
            self._seq += 1
            event["seq"] = self._seq
        return events

    def _send_pending(self, final: bool = False) -> None:
        """Send what is pending, oldest first; a transient error keeps the rest for the next try."""
        while True:
            if not self._pending:
                self._pending = self._take()
                if not self._pending:
                    return
            while self._pending:
                event = self._pending[0]
                try:
                    send_event(self._http, self.id, event)  # type: ignore[arg-type]
                except TransientError:
                    raise
                except MolExpError as exc:
                    if exc.status == 409:
                        self._dead = f"the server refused further writes ({exc}); the run was ended there"
                        self._pending = []
                        return
                    print(f"molexp: run {self.id}: dropped a {event['t']} write: {exc}", file=sys.stderr)
                self._pending.pop(0)
                if event.get("file"):  # its spool copy is on the server now (or was refused)
                    self._files.release(Path(event["file"]))
                if event["t"] == "log":
                    self.sent["lines"] += _event_lines(event)
                elif event["t"] == "metric":
                    self.sent["points"] += len(event["points"])
            if not final:
                return

    def _queued_lines(self) -> int:
        """Lines waiting to be taken (a racy count is fine: it only decides when to take them)."""
        return sum(len(queue) for queue in list(self._logs.values()))

    def _background(self) -> None:
        last_beat = last_send = time.monotonic()
        delay = SEND_POLL_SECONDS
        while not self._stop.wait(timeout=delay) and not self._dead:
            try:
                now = time.monotonic()
                if (
                    self._pending
                    or now - last_send >= SEND_EVERY_SECONDS
                    or self._staged_bytes >= SEND_AT_BYTES
                    or len(self._points) >= SEND_AT_ITEMS
                ):
                    last_send = now
                    with self._send_lock:
                        self._send_pending()
                elif self._queued_lines() >= SEND_AT_ITEMS:
                    with self._send_lock:
                        self._stage_logs()
                if time.monotonic() - last_beat >= self._heartbeat_every:
                    reply = self._http.post(f"/api/external/runs/{self.id}/heartbeat/")  # type: ignore[union-attr]
                    last_beat = time.monotonic()
                    if reply and reply.get("cancel_requested"):
                        self._cancel_seen()
                delay = SEND_POLL_SECONDS
            except TransientError:
                self.sent["retries"] += 1
                delay = min(self._retry_max, delay * 2)
            except MolExpError as exc:
                if exc.status == 409:
                    self._dead = f"the server ended this run ({exc})"
                delay = SEND_POLL_SECONDS
            except Exception as exc:  # never let the sender die silently
                print(f"molexp: run {self.id}: background sender: {type(exc).__name__}: {exc}", file=sys.stderr)
                delay = min(self._retry_max, delay * 2)

    def _spool_write(self) -> None:
        assert self._events_fh is not None
        for event in self._take():
            if "data" in event:  # log bytes (UTF-8) as JSON text
                event["text"] = event.pop("data").decode("utf-8")
                event.pop("lines", None)
            self._events_fh.write(json.dumps(event) + "\n")
        self._events_fh.flush()

    def _background_offline(self) -> None:
        while not self._stop.wait(timeout=0.5):
            with self._send_lock:
                self._spool_write()

    def _retrying(self, call, *, what: str, not_found: type[MolExpError] | None = None) -> Any:
        deadline = time.monotonic() + float(os.environ.get("MOLEXP_FLUSH_TIMEOUT_SECONDS", 300))
        delay = 0.5
        while True:
            try:
                return call()
            except TransientError as exc:
                if time.monotonic() > deadline:
                    raise MolExpError(f"{what}: {exc}") from None
                self.sent["retries"] += 1
                time.sleep(delay)
                delay = min(self._retry_max, delay * 2)
            except MolExpError as exc:
                if not_found is not None and exc.status == 404:
                    raise not_found(str(exc), 404) from None
                raise
