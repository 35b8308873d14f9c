"""Workflow authoring validation, binding precedence, fan-out, resume and shell."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from runs_app.workflow import (
    MapTaskFailed,
    MissingTaskInput,
    RunCancelled,
    ShellCommandFailed,
    ShellCommandTimedOut,
    Workflow,
    WorkflowError,
    shell,
)
from runs_app.workflow.engine import TaskFailed, execute
from runs_app.workflow.loader import load_workflows, pick_workflow


class Recorder:
    """Engine hooks that record calls (the worker implements them with TaskExecution rows)."""

    def __init__(self, cancel_after: str | None = None):
        self.calls: list[tuple[str, str]] = []
        self.cancel_after = cancel_after
        self.cancelled = False

    def check_cancel(self):
        if self.cancelled:
            raise RunCancelled("cancel requested")

    def task_started(self, name):
        self.calls.append(("started", name))

    def task_succeeded(self, name, output):
        self.calls.append(("succeeded", name))
        if name == self.cancel_after:
            self.cancelled = True

    def task_failed(self, name, exc):
        self.calls.append(("failed", name))

    def task_reused(self, name, output):
        self.calls.append(("reused", name))

    def task_skipped(self, name, reason):
        self.calls.append(("skipped", name))


class LogCtx:
    """A minimal context for shell(): a work directory and in-memory logs."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.logs: dict[str, list[str]] = {}
        self.task = None

    def log(self, name):
        lines = self.logs.setdefault(name, [])

        class Writer:
            def append(self, line):
                lines.append(line)

        return Writer()


def test_duplicate_task_name_is_refused_with_name():
    wf = Workflow("w")

    @wf.task
    def a():
        return 1

    with pytest.raises(WorkflowError, match="Duplicate task name 'a'"):

        @wf.task(name="a")
        def b():
            return 2


def test_unknown_dependency_and_cycle_are_named():
    wf = Workflow("w")
    wf.task(depends_on=["ghost"])(lambda: 1)
    with pytest.raises(WorkflowError, match="depends on unknown task 'ghost'"):
        wf.validate()

    wf = Workflow("w")

    @wf.task(depends_on=["c"])
    def a(c):
        return c

    @wf.task(depends_on=["a"])
    def b(a):
        return a

    @wf.task(depends_on=["b"])
    def c(b):
        return b

    with pytest.raises(WorkflowError, match="cycle in workflow 'w': a → c → b → a"):
        wf.validate()


def test_binding_precedence_dependency_params_config_default():
    wf = Workflow("w")
    seen = {}

    @wf.task
    def load():
        return "from-dependency"

    @wf.task(depends_on=["load"])
    def use(ctx, load, lr=0.5, epochs=1, depth=3, name="dflt"):
        seen.update(ctx=ctx, load=load, lr=lr, epochs=epochs, depth=depth, name=name)

    execute(
        wf,
        ctx="CTX",
        params={"lr": 0.1, "load": "param-loses"},
        config={"lr": 0.9, "epochs": 7},
        hooks=Recorder(),
    )
    assert seen == {"ctx": "CTX", "load": "from-dependency", "lr": 0.1, "epochs": 7, "depth": 3, "name": "dflt"}


def test_missing_required_input_names_it():
    wf = Workflow("w")

    @wf.task
    def needs(dataset):
        return dataset

    with pytest.raises(TaskFailed) as err:
        execute(wf, ctx=None, params={}, config={}, hooks=Recorder())
    assert isinstance(err.value.original, MissingTaskInput)
    assert "missing input 'dataset'" in str(err.value.original)


def test_failure_skips_the_rest_and_keeps_order():
    wf = Workflow("w")
    wf.task(name="one")(lambda: 1)

    @wf.task(depends_on=["one"])
    def two(one):
        raise ValueError("boom")

    @wf.task(depends_on=["two"])
    def three(two):
        return 3

    hooks = Recorder()
    with pytest.raises(TaskFailed, match="Task 'two' failed: ValueError: boom"):
        execute(wf, ctx=None, params={}, config={}, hooks=hooks)
    assert hooks.calls == [
        ("started", "one"),
        ("succeeded", "one"),
        ("started", "two"),
        ("failed", "two"),
        ("skipped", "three"),
    ]


def test_map_over_runs_elements_with_bounded_concurrency_and_collects_failures():
    wf = Workflow("w")
    active, peak, lock = [0], [0], threading.Lock()

    @wf.task
    def items():
        return list(range(12))

    @wf.task(depends_on=["items"], map_over="items", max_parallel=3)
    def square(items):
        import time

        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        if items in (4, 9):
            raise ValueError(f"bad element {items}")
        return items * items

    with pytest.raises(TaskFailed) as err:
        execute(wf, ctx=None, params={}, config={}, hooks=Recorder())
    failure = err.value.original
    assert isinstance(failure, MapTaskFailed)
    assert [index for index, _, _ in failure.failures] == [4, 9]
    assert "2 of 12 elements of task 'square' failed" in str(failure)
    assert 1 < peak[0] <= 3


def test_map_over_returns_results_in_order():
    wf = Workflow("w")

    @wf.task(map_over="xs")
    def double(xs):
        return xs * 2

    assert execute(wf, ctx=None, params={"xs": [3, 1, 2]}, config={}, hooks=Recorder())["double"] == [6, 2, 4]


def test_resume_reuses_given_outputs():
    wf = Workflow("w")
    runs = []

    @wf.task
    def first():
        runs.append("first")
        return 10

    @wf.task(depends_on=["first"])
    def second(first):
        runs.append("second")
        return first + 1

    hooks = Recorder()
    outputs = execute(wf, ctx=None, params={}, config={}, hooks=hooks, reuse={"first": 41})
    assert runs == ["second"] and outputs["second"] == 42
    assert hooks.calls[0] == ("reused", "first")


def test_cancel_between_tasks_skips_the_rest():
    wf = Workflow("w")
    wf.task(name="a")(lambda: 1)
    wf.task(name="b", depends_on=["a"])(lambda a: 2)
    hooks = Recorder(cancel_after="a")
    with pytest.raises(RunCancelled):
        execute(wf, ctx=None, params={}, config={}, hooks=hooks)
    assert ("skipped", "b") in hooks.calls and ("started", "b") not in hooks.calls


def test_topology_hash_ignores_bodies_but_not_shape():
    def make(body_value, extra_dep=False):
        wf = Workflow("w")
        wf.task(name="a")(lambda: body_value)
        wf.task(name="b", depends_on=["a"] if not extra_dep else ["a", "c"])(lambda a, c=None: a)
        wf.task(name="c")(lambda: 0)
        return wf

    assert make(1).topology_hash() == make(2).topology_hash()
    assert make(1).topology_hash() != make(1, extra_dep=True).topology_hash()
    topo = make(1).topology()
    assert topo["order"] == ["a", "b", "c"]  # declaration order, dependencies first
    assert make(1, extra_dep=True).topology()["order"] == ["a", "c", "b"]
    assert {t["name"]: t["depends_on"] for t in topo["tasks"]}["b"] == ["a"]


def test_loader_reports_syntax_errors_and_picks_by_name(tmp_path):
    with pytest.raises(WorkflowError, match="syntax error at line 1"):
        load_workflows("def (:", filename="bad.py")
    with pytest.raises(WorkflowError, match="defines no Workflow"):
        load_workflows("x = 1", filename="empty.py")
    source = (
        "from runs_app.workflow import Workflow\n"
        "a = Workflow('alpha')\n@a.task\ndef t():\n    return 1\n"
        "b = Workflow('beta')\n@b.task\ndef u():\n    return 2\n"
    )
    workflows = load_workflows(source, filename="two.py")
    assert pick_workflow(workflows, "beta", filename="two.py").name == "beta"
    with pytest.raises(WorkflowError, match="defines several workflows"):
        pick_workflow(workflows, "", filename="two.py")
    with pytest.raises(WorkflowError, match="no workflow named 'gamma'"):
        pick_workflow(workflows, "gamma", filename="two.py")


def test_shell_streams_output_into_a_log(tmp_path):
    ctx = LogCtx(tmp_path)
    result = shell(ctx, ["python3", "-c", "import sys; print('hello'); print('err', file=sys.stderr)"], log="cmd")
    assert result.returncode == 0
    assert "hello" in ctx.logs["cmd"] and "err" in ctx.logs["cmd"]


def test_shell_runs_in_the_workdir_and_fails_with_code_and_tail(tmp_path):
    ctx = LogCtx(tmp_path)
    (tmp_path / "marker.txt").write_text("x")
    result = shell(ctx, "ls")
    assert "marker.txt" in result.tail
    with pytest.raises(ShellCommandFailed) as err:
        shell(ctx, ["sh", "-c", "echo line1; echo last words; exit 3"])
    assert err.value.returncode == 3
    assert "exited with code 3" in str(err.value) and "last words" in str(err.value)


def test_shell_inside_a_task_finds_its_context(tmp_path):
    wf = Workflow("w")

    @wf.task
    def run_cmd(ctx):
        return shell(["echo", "inside"]).tail

    ctx = LogCtx(tmp_path)
    assert execute(wf, ctx=ctx, params={}, config={}, hooks=Recorder())["run_cmd"] == "inside"
    assert "inside" in ctx.logs["run_cmd.stdout"]


def test_shell_timeout_fires_on_a_silent_command(tmp_path):
    ctx = LogCtx(tmp_path)
    started = time.monotonic()
    with pytest.raises(ShellCommandTimedOut) as err:
        shell(ctx, ["sleep", "30"], timeout=1)
    assert time.monotonic() - started < 5
    assert "timed out after 1 s" in str(err.value) and err.value.returncode == -9


def test_shell_timeout_kills_what_the_command_started(tmp_path):
    ctx = LogCtx(tmp_path)
    marker = tmp_path / "survived"
    with pytest.raises(ShellCommandTimedOut):
        shell(ctx, ["sh", "-c", f"(sleep 2; touch {marker}) & echo started; sleep 30"], timeout=1)
    assert ctx.logs["task.stdout"][1] == "started"
    time.sleep(2.5)
    assert not marker.exists()  # the whole process group was killed, not only sh


def test_shell_sees_a_cancel_while_the_command_is_silent(tmp_path):
    class CancellingCtx(LogCtx):
        def __init__(self, workdir):
            super().__init__(workdir)
            self.cancel_at = time.monotonic() + 0.5

        def check_cancel(self):
            if time.monotonic() > self.cancel_at:
                raise RunCancelled("cancel requested")

    started = time.monotonic()
    with pytest.raises(RunCancelled):
        shell(CancellingCtx(tmp_path), ["sleep", "30"])
    assert time.monotonic() - started < 5
