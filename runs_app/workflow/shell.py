"""``shell``: run a command (a scientific code, a converter) as part of a task.

``shell(["gmx", "grompp", ...])`` inside a task, or ``shell(ctx, argv)``: runs
the argv in the task's work directory, streams stdout and stderr line by line
into the task's output log ``<task>.stdout`` (with what the task prints) unless
``log=`` names another, checks for cancellation on every line and, while the
command is silent, every 0.2 s; ``timeout=`` kills the command (and whatever it
started) even when it prints nothing, raising ``ShellCommandTimedOut``. A failed
command raises ``ShellCommandFailed`` with the exit code and the output's tail.
Returns a ``ShellResult``.
"""

from __future__ import annotations

import collections
import os
import queue
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .capture import stdout_log_name
from .current import current_context, current_task
from .errors import ShellCommandFailed, ShellCommandTimedOut

#: How often a silent command's timeout and the run's cancel flag are checked.
POLL_SECONDS = 0.2


def _pump(stream, lines: queue.Queue) -> None:
    """Move the command's output lines into ``lines``; ``None`` marks the end of output."""
    try:
        for line in stream:
            lines.put(line.rstrip("\n"))
    except (OSError, ValueError):
        pass  # the pipe was closed under us (the command was killed)
    finally:
        lines.put(None)


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the command and everything it started (its own session), then reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


@dataclass(frozen=True)
class ShellResult:
    argv: list[str]
    returncode: int
    tail: str
    seconds: float
    log: str


def shell(*args: Any, log: str | None = None, cwd: str | os.PathLike | None = None, env: dict | None = None,
          timeout: float | None = None, tail_lines: int = 40, check: bool = True) -> ShellResult:  # fmt: skip
    """Run ``argv`` (a list, or a string split like a shell would) in the task's work directory."""
    if args and hasattr(args[0], "workdir"):
        ctx, rest = args[0], args[1:]
    else:
        ctx, rest = current_context(), args
    if len(rest) != 1:
        raise TypeError("shell() takes the argv (and optionally the task's ctx first)")
    argv = shlex.split(rest[0]) if isinstance(rest[0], str) else [str(a) for a in rest[0]]
    if not argv:
        raise ValueError("shell() needs a non-empty argv")
    workdir = Path(cwd) if cwd is not None else Path(ctx.workdir)
    if not workdir.is_absolute():
        workdir = Path(ctx.workdir) / workdir
    workdir.mkdir(parents=True, exist_ok=True)
    log_name = log or stdout_log_name(current_task() or getattr(ctx, "task", None) or "task")
    writer = ctx.log(log_name)
    check_cancel = getattr(ctx, "check_cancel", None)
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    started = time.monotonic()
    writer.append(f"$ {shlex.join(argv)}")
    process = subprocess.Popen(
        argv,
        cwd=workdir,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,  # its own process group: a timeout or cancel kills its children too
    )
    # A thread reads the pipe, so this one can enforce the timeout and see a cancel request
    # while the command prints nothing.
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(process.stdout, lines), name="shell-reader", daemon=True)
    reader.start()
    try:
        finished = False
        while not finished:
            remaining = None if timeout is None else timeout - (time.monotonic() - started)
            if remaining is not None and remaining <= 0:
                _kill_group(process)
                raise ShellCommandTimedOut(argv, timeout, "\n".join(tail))
            try:
                line = lines.get(timeout=POLL_SECONDS if remaining is None else min(POLL_SECONDS, remaining))
            except queue.Empty:
                if check_cancel is not None:
                    check_cancel()
                continue
            if line is None:
                finished = True
                continue
            tail.append(line)
            writer.append(line)  # checks cancellation on every write
        returncode = process.wait()
    except BaseException:
        _kill_group(process)
        raise
    finally:
        if process.poll() is None:
            _kill_group(process)
        reader.join(timeout=5)
    seconds = time.monotonic() - started
    writer.append(f"[exit {returncode} after {seconds:.1f} s]")
    text_tail = "\n".join(tail)
    if returncode != 0 and check:
        raise ShellCommandFailed(argv, returncode, text_tail)
    return ShellResult(argv=argv, returncode=returncode, tail=text_tail, seconds=seconds, log=log_name)
