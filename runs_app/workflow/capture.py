"""Capture what workflow code says into the task's ``<task>.stdout`` log (SPEC §12).

Invariants:
- ``sys.stdout``/``sys.stderr`` are replaced by one process-wide router while at
  least one execution captures (refcounted), and put back when the last one
  stops if nobody replaced them meanwhile. A write is routed by the thread that
  makes it: a thread running a task (``current.set_current``, also set on the
  ``map_over`` pool threads) writes into that task's ``<task>.stdout`` log of
  that execution; any other thread writes to the stream that was there before.
  When exactly one execution captures in this process (the prefork and solo
  pools), a thread the task itself started is attributed to the task running
  at that moment.
- ``logging`` records emitted on such a thread go into the same log as
  ``LEVEL logger: message`` lines (records Celery, kombu and Django emit are
  left to the worker's own handlers). The levels are the worker's logging
  configuration (``-l info`` in ``make run``).
- Lines are buffered per thread and stream until a newline (a carriage return
  keeps only the text after it, as a terminal shows a progress bar); a partial
  line is written at task end, past 64 KiB, or on an explicit ``flush()`` unless
  it is a progress bar being redrawn (a line per update would flood the log).
- A write never raises into the task (no cancellation check) and never
  recurses: output produced while a captured line is being stored (a storage
  warning, say) goes to the original stream.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from typing import Any

from .current import current_context, current_task

#: A partial line longer than this is written as a line of its own.
MAX_PARTIAL = 64 * 1024
#: Loggers of the worker's own machinery, never copied into a task's log.
FRAMEWORK_LOGGERS = ("celery", "kombu", "amqp", "billiard", "django", "py.warnings")

_guard = threading.local()


@contextlib.contextmanager
def _busy():
    """While active, output of this thread passes through to the original streams."""
    before = getattr(_guard, "busy", False)
    _guard.busy = True
    try:
        yield
    finally:
        _guard.busy = before


def exclude_this_thread() -> None:
    """Never capture what the calling thread writes or logs (the RunContext's own background thread)."""
    _guard.busy = True


def stdout_log_name(task: str) -> str:
    """The name of the log that receives what task ``task`` prints."""
    return f"{task}.stdout"


class TaskOutput:
    """One execution's capture: partial lines per (thread, stream) and the route into its logs."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        # (thread, stream) -> (task, text, redraw): redraw when the text came after a carriage return
        self._partials: dict[tuple[int, str], tuple[str, str, bool]] = {}
        #: The task the engine runs at the top level (for threads a task started itself).
        self.active_task: str | None = None

    def write(self, task: str, stream: str, text: str) -> None:
        key = (threading.get_ident(), stream)
        lines: list[tuple[str, str]] = []
        with self._lock:
            owner, pending, redraw = self._partials.pop(key, (task, "", False))
            if owner != task and pending:
                lines.append((owner, pending))
                pending, redraw = "", False
            pending += text
            if "\n" in pending:
                *complete, pending = pending.split("\n")
                lines.extend((task, line) for line in complete)
                redraw = False
            if "\r" in pending:
                # Only what a terminal would still show: text after the last carriage return, or,
                # when the text ends with one, the last segment with its return (the next write overwrites it).
                head, _, after = pending.rpartition("\r")
                pending = after or head.rsplit("\r", 1)[-1] + "\r"
                redraw = True
            if len(pending) > MAX_PARTIAL:
                lines.append((task, pending))
                pending = ""
            if pending:
                self._partials[key] = (task, pending, redraw)
        self._store(lines)

    def flush_thread(self, *, redraws: bool = True) -> None:
        """Write this thread's partial lines: at task end all of them; on an explicit ``flush()``
        (``redraws=False``) not a progress bar being redrawn, which would become a line per update."""
        ident = threading.get_ident()
        with self._lock:
            keys = [k for k, (_t, _text, redraw) in self._partials.items() if k[0] == ident and (redraws or not redraw)]
            lines = [self._partials.pop(k)[:2] for k in keys]
        self._store(lines)

    def flush_all(self) -> None:
        """Write every partial line (execution end)."""
        with self._lock:
            lines = [(task, text) for task, text, _redraw in self._partials.values()]
            self._partials = {}
        self._store(lines)

    def emit_record(self, task: str, text: str) -> None:
        self._store([(task, line) for line in text.split("\n")])

    def _store(self, lines: list[tuple[str, str]]) -> None:
        if not lines:
            return
        by_task: dict[str, list[str]] = {}
        for task, line in lines:
            by_task.setdefault(task, []).append(_terminal_line(line))
        with _busy():  # a record logged while storing (a storage warning) must not come back here
            for task, task_lines in by_task.items():
                self.ctx.log(stdout_log_name(task), task=task).write_lines(task_lines)


def _terminal_line(line: str) -> str:
    """What a terminal shows of a line with carriage returns: the text after the last one."""
    if "\r" not in line:
        return line
    parts = [p for p in line.split("\r") if p]
    return parts[-1] if parts else ""


class _Router:
    """The process-wide switch: which ``TaskOutput`` a write or a log record on this thread belongs to."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outputs: dict[int, TaskOutput] = {}
        self.saved: dict[str, Any] = {}
        self.streams: dict[str, _CaptureStream] = {}
        self.handler: _CaptureHandler | None = None

    def route(self) -> tuple[TaskOutput, str] | None:
        if getattr(_guard, "busy", False):
            return None
        try:
            ctx = current_context()
        except RuntimeError:
            ctx = None
        if ctx is not None:
            output = self.outputs.get(id(ctx))
            task = current_task()
            if output is not None and task:
                return output, task
            return None
        outputs = list(self.outputs.values())
        if len(outputs) == 1 and outputs[0].active_task:
            return outputs[0], outputs[0].active_task
        return None

    def start(self, output: TaskOutput) -> None:
        with self.lock:
            if not self.outputs:
                for name in ("stdout", "stderr"):
                    self.saved[name] = getattr(sys, name)
                    self.streams[name] = _CaptureStream(name, self.saved[name])
                    setattr(sys, name, self.streams[name])
                self.handler = _CaptureHandler()
                logging.getLogger().addHandler(self.handler)
            self.outputs[id(output.ctx)] = output

    def stop(self, output: TaskOutput) -> None:
        with self.lock:
            if self.outputs.pop(id(output.ctx), None) is None or self.outputs:
                return
            for name, stream in self.streams.items():
                # Someone else replaced the stream meanwhile: leave theirs (ours passes through when idle).
                if getattr(sys, name) is stream:
                    setattr(sys, name, self.saved[name])
            self.streams, self.saved = {}, {}
            if self.handler is not None:
                logging.getLogger().removeHandler(self.handler)
                self.handler = None


_router = _Router()


class _CaptureStream(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: a task's thread writes into its log, others pass through."""

    def __init__(self, name: str, original: Any) -> None:
        super().__init__()
        self.name = name
        self.original = original

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        routed = _router.route()
        if routed is None:
            return self.original.write(text)
        output, task = routed
        with _busy():
            output.write(task, self.name, text)
        return len(text)

    def flush(self) -> None:
        routed = _router.route()
        if routed is None:
            flush = getattr(self.original, "flush", None)
            if flush is not None:
                flush()
            return
        with _busy():
            routed[0].flush_thread(redraws=False)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self.original.fileno()

    def __getattr__(self, name: str) -> Any:
        # Anything else a program may reach for (``sys.stdout.buffer``, ``line_buffering``) is the
        # original stream's: bytes written to ``buffer`` go to the worker's output, uncaptured.
        return getattr(self.original, name)


class _CaptureHandler(logging.Handler):
    """Copies records emitted on a task's thread into that task's ``.stdout`` log."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".", 1)[0] in FRAMEWORK_LOGGERS:
            return
        routed = _router.route()
        if routed is None:
            return
        output, task = routed
        with _busy():
            try:
                output.emit_record(task, self.format(record))
            except Exception:
                self.handleError(record)


def capture_start(ctx: Any) -> TaskOutput:
    """Start routing this execution's task output into its logs; pair with ``capture_stop``."""
    output = TaskOutput(ctx)
    _router.start(output)
    return output


def capture_stop(output: TaskOutput) -> None:
    """Write what is still partial and stop routing this execution's output."""
    try:
        output.flush_all()
    finally:
        _router.stop(output)
