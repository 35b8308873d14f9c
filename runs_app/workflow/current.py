"""The context of the task running on this thread, so helpers like ``shell`` can find it."""

from __future__ import annotations

import threading
from typing import Any

_local = threading.local()


def set_current(ctx: Any, task: str | None) -> None:
    _local.ctx = ctx
    _local.task = task


def current_context() -> Any:
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        raise RuntimeError("No task is running on this thread; pass the task's ctx explicitly")
    return ctx


def current_task() -> str | None:
    return getattr(_local, "task", None)
