"""The workflow authoring API (SPEC §4): ``Workflow`` and its ``task`` decorator.

Invariants: task names are unique within a workflow (checked as they are
declared); ``validate()`` checks unknown dependencies and cycles and returns a
topological order; the topology (names, dependencies, parameters, fan-out) and
its hash depend only on the declarations, not on function bodies.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import WorkflowError

_MISSING = object()


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def as_dict(self) -> dict:
        data: dict[str, Any] = {"name": self.name, "required": self.required}
        if not self.required:
            try:
                json.dumps(self.default)
                data["default"] = self.default
            except (TypeError, ValueError):
                data["default"] = repr(self.default)
        return data


@dataclass
class TaskSpec:
    name: str
    func: Callable
    depends_on: tuple[str, ...] = ()
    map_over: str | None = None
    max_parallel: int = 4
    wants_ctx: bool = False
    parameters: tuple[Parameter, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "depends_on": list(self.depends_on),
            "map_over": self.map_over,
            "parameters": [p.as_dict() for p in self.parameters],
            "doc": inspect.getdoc(self.func) or "",
        }


def _parameters(name: str, func: Callable) -> tuple[bool, tuple[Parameter, ...]]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise WorkflowError(f"Task {name!r}: cannot read its signature: {exc}") from None
    params = list(signature.parameters.values())
    wants_ctx = bool(params) and params[0].name == "ctx"
    if wants_ctx:
        params = params[1:]
    result = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise WorkflowError(f"Task {name!r}: parameters bind by name, so *{p.name}/**{p.name} is not allowed")
        if p.kind is p.POSITIONAL_ONLY:
            raise WorkflowError(f"Task {name!r}: parameter {p.name!r} is positional-only; it must bind by name")
        result.append(Parameter(p.name, _MISSING if p.default is p.empty else p.default))
    return wants_ctx, tuple(result)


class Workflow:
    """A named set of tasks with dependencies, defined in a workflow file."""

    def __init__(self, name: str, description: str = "") -> None:
        if not isinstance(name, str) or not name.strip():
            raise WorkflowError("A workflow needs a non-empty name")
        self.name = name.strip()
        self.description = description
        self._tasks: dict[str, TaskSpec] = {}

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, tasks={list(self._tasks)})"

    @property
    def tasks(self) -> dict[str, TaskSpec]:
        return dict(self._tasks)

    def task(
        self,
        func: Callable | None = None,
        *,
        name: str | None = None,
        depends_on: Iterable[str] | str = (),
        map_over: str | None = None,
        max_parallel: int = 4,
    ) -> Callable:
        """Declare a task; use as ``@workflow.task`` or ``@workflow.task(depends_on=[...], map_over="x")``."""

        def register(fn: Callable) -> Callable:
            task_name = name or fn.__name__
            if task_name in self._tasks:
                raise WorkflowError(f"Duplicate task name {task_name!r} in workflow {self.name!r}")
            deps = (depends_on,) if isinstance(depends_on, str) else tuple(depends_on)
            if len(set(deps)) != len(deps):
                raise WorkflowError(f"Task {task_name!r} lists a dependency twice: {list(deps)}")
            wants_ctx, parameters = _parameters(task_name, fn)
            if map_over is not None and map_over not in {p.name for p in parameters}:
                raise WorkflowError(f"Task {task_name!r}: map_over={map_over!r} is not one of its parameters")
            if not isinstance(max_parallel, int) or max_parallel < 1:
                raise WorkflowError(f"Task {task_name!r}: max_parallel must be a positive integer")
            self._tasks[task_name] = TaskSpec(
                name=task_name,
                func=fn,
                depends_on=deps,
                map_over=map_over,
                max_parallel=max_parallel,
                wants_ctx=wants_ctx,
                parameters=parameters,
            )
            return fn

        if func is not None:
            return register(func)
        return register

    def validate(self) -> list[str]:
        """Check dependencies and return the task names in a deterministic topological order.

        Raises ``WorkflowError`` naming an unknown dependency or the tasks of a cycle.
        """
        if not self._tasks:
            raise WorkflowError(f"Workflow {self.name!r} has no tasks")
        for spec in self._tasks.values():
            for dep in spec.depends_on:
                if dep not in self._tasks:
                    raise WorkflowError(f"Task {spec.name!r} depends on unknown task {dep!r}")
                if dep == spec.name:
                    raise WorkflowError(f"Dependency cycle in workflow {self.name!r}: {spec.name} → {spec.name}")
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = visiting, 2 = done

        def visit(node: str, path: list[str]) -> None:
            if state.get(node) == 2:
                return
            if state.get(node) == 1:
                cycle = path[path.index(node) :] + [node]
                raise WorkflowError(f"Dependency cycle in workflow {self.name!r}: {' → '.join(cycle)}")
            state[node] = 1
            for dep in self._tasks[node].depends_on:
                visit(dep, [*path, node])
            state[node] = 2
            order.append(node)

        for task_name in self._tasks:  # declaration order keeps the order stable
            visit(task_name, [])
        return order

    def topology(self) -> dict:
        order = self.validate()
        return {
            "name": self.name,
            "description": self.description,
            "order": order,
            "tasks": [self._tasks[t].as_dict() for t in order],
        }

    def topology_hash(self) -> str:
        topo = self.topology()
        shape = {
            "name": topo["name"],
            "tasks": [{k: t[k] for k in ("name", "depends_on", "map_over", "parameters")} for t in topo["tasks"]],
        }
        payload = json.dumps(shape, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()
