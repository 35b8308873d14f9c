"""Execute a validated workflow in dependency order (SPEC §4).

Invariants:
- Tasks run one after another in ``Workflow.validate()`` order; a task's
  parameters bind by name: output of the dependency of that name, then the
  run's params, then its config, then the default; else ``MissingTaskInput``.
- ``map_over`` tasks run once per element on a bounded thread pool; failures of
  single elements are collected and raised together as ``MapTaskFailed``.
- The engine knows nothing about the database: it reports through ``hooks``
  (task started/succeeded/failed/reused/skipped, cancellation checks), which
  the worker's service implements with TaskExecution rows.
- With ``reuse`` (resume), a task whose output is given is not run again.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from .authoring import TaskSpec, Workflow
from .current import set_current
from .errors import MapTaskFailed, MissingTaskInput, RunCancelled


class EngineHooks(Protocol):
    def check_cancel(self) -> None: ...
    def task_started(self, name: str) -> None: ...
    def task_succeeded(self, name: str, output: Any) -> None: ...
    def task_failed(self, name: str, exc: BaseException) -> None: ...
    def task_reused(self, name: str, output: Any) -> None: ...
    def task_skipped(self, name: str, reason: str) -> None: ...


class TaskFailed(Exception):
    """A task raised; ``__cause__`` is the original exception."""

    def __init__(self, task: str, exc: BaseException) -> None:
        super().__init__(f"Task {task!r} failed: {type(exc).__name__}: {exc}")
        self.task = task
        self.original = exc


def bind_arguments(
    spec: TaskSpec, outputs: Mapping[str, Any], params: Mapping[str, Any], config: Mapping[str, Any]
) -> dict[str, Any]:
    """Keyword arguments for ``spec`` by the precedence of SPEC §4."""
    kwargs: dict[str, Any] = {}
    for parameter in spec.parameters:
        name = parameter.name
        if name in spec.depends_on:
            kwargs[name] = outputs[name]
        elif name in params:
            kwargs[name] = params[name]
        elif name in config:
            kwargs[name] = config[name]
        elif not parameter.required:
            kwargs[name] = parameter.default
        else:
            raise MissingTaskInput(spec.name, name)
    return kwargs


def _call(spec: TaskSpec, ctx: Any, kwargs: dict[str, Any]) -> Any:
    set_current(ctx, spec.name)
    # The RunContext routes what this thread prints into ``<task>.stdout`` (capture.py);
    # a test's stand-in context may not have these.
    started, done = getattr(ctx, "task_thread_started", None), getattr(ctx, "task_thread_done", None)
    if started is not None:
        started(spec.name)
    try:
        return spec.func(ctx, **kwargs) if spec.wants_ctx else spec.func(**kwargs)
    finally:
        try:
            if done is not None:
                done()  # the task's unfinished last line of output
        finally:
            set_current(None, None)


def _run_mapped(spec: TaskSpec, ctx: Any, kwargs: dict[str, Any], hooks: EngineHooks) -> list[Any]:
    items = kwargs[spec.map_over]
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(f"Task {spec.name!r} maps over {spec.map_over!r}, which is {type(items).__name__}, not a list")
    items = list(items)
    results: list[Any] = [None] * len(items)
    failures: list[tuple[int, str, str]] = []

    def one(index: int) -> None:
        hooks.check_cancel()
        element_kwargs = dict(kwargs)
        element_kwargs[spec.map_over] = items[index]
        results[index] = _call(spec, ctx, element_kwargs)

    workers = max(1, min(spec.max_parallel, len(items)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"map-{spec.name}") as pool:
        futures = [(index, pool.submit(one, index)) for index in range(len(items))]
        for index, future in futures:
            exc = future.exception()
            if isinstance(exc, RunCancelled):
                raise exc
            if exc is not None:
                failures.append((index, type(exc).__name__, str(exc)))
    if failures:
        raise MapTaskFailed(spec.name, len(items), failures)
    return results


def execute(
    workflow: Workflow,
    *,
    ctx: Any,
    params: Mapping[str, Any],
    config: Mapping[str, Any],
    hooks: EngineHooks,
    reuse: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every task; returns task name → output. Raises ``TaskFailed`` or ``RunCancelled``."""
    order = workflow.validate()
    tasks = workflow.tasks
    reuse = reuse or {}
    outputs: dict[str, Any] = {}
    for position, name in enumerate(order):
        spec = tasks[name]
        try:
            hooks.check_cancel()
        except RunCancelled:
            for rest in order[position:]:
                hooks.task_skipped(rest, "cancelled")
            raise
        if name in reuse:
            outputs[name] = reuse[name]
            hooks.task_reused(name, reuse[name])
            continue
        hooks.task_started(name)
        try:
            kwargs = bind_arguments(spec, outputs, params, config)
            output = _run_mapped(spec, ctx, kwargs, hooks) if spec.map_over else _call(spec, ctx, kwargs)
        except RunCancelled as exc:
            hooks.task_failed(name, exc)
            for rest in order[position + 1 :]:
                hooks.task_skipped(rest, "cancelled")
            raise
        except Exception as exc:
            hooks.task_failed(name, exc)
            for rest in order[position + 1 :]:
                hooks.task_skipped(rest, f"{name} failed")
            raise TaskFailed(name, exc) from exc
        outputs[name] = output
        hooks.task_succeeded(name, output)
    return outputs
