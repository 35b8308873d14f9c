"""``shell``: run a command (a scientific code, a converter) as part of a task.

``shell(["gmx", "grompp", ...])`` inside a task, or ``shell(ctx, argv)``: runs
the argv in the task's work directory, streams stdout and stderr line by line
into a log asset (``<task>.shell`` unless ``log=`` names another), checks for
cancellation on every line, and raises ``ShellCommandFailed`` with the exit code
and the output's tail when the command fails. Returns a ``ShellResult``.
"""

from __future__ import annotations

import collections
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .current import current_context, current_task
from .errors import RunCancelled, ShellCommandFailed


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
    log_name = log or f"{current_task() or getattr(ctx, 'task', None) or 'task'}.shell"
    writer = ctx.log(log_name)
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
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            writer.append(line)  # checks cancellation on every write
            if timeout is not None and time.monotonic() - started > timeout:
                process.kill()
                raise ShellCommandFailed(argv, -9, f"timed out after {timeout} s\n" + "\n".join(tail))
        returncode = process.wait()
    except (RunCancelled, KeyboardInterrupt):
        process.kill()
        process.wait()
        raise
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    seconds = time.monotonic() - started
    writer.append(f"[exit {returncode} after {seconds:.1f} s]")
    text_tail = "\n".join(tail)
    if returncode != 0 and check:
        raise ShellCommandFailed(argv, returncode, text_tail)
    return ShellResult(argv=argv, returncode=returncode, tail=text_tail, seconds=seconds, log=log_name)
