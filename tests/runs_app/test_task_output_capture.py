"""What workflow code prints or logs lands in ``<task>.stdout`` (SPEC §12), executed in-process."""

from __future__ import annotations

import sys

import pytest

from assets_app.models import Asset
from runs_app.models import Execution, Run
from runs_app.services import execution_run, experiment_create, run_launch

pytestmark = pytest.mark.django_db(transaction=True)

WORKFLOW = """
import logging
import sys
import threading

from runs_app.workflow import Workflow, shell

workflow = Workflow("talk")
log = logging.getLogger("talk.helpers")


@workflow.task
def speak(ctx):
    print("hello from speak")
    print("to stderr", file=sys.stderr)
    sys.stdout.write("no newline at the end")
    assert not sys.stdout.isatty() and sys.stdout.encoding and sys.stdout.buffer is not None
    log.warning("a warning from %s", "logging")
    return [1, 2, 3]


@workflow.task(depends_on=["speak"], map_over="speak", max_parallel=3)
def fan(ctx, speak):
    print(f"element {speak}")
    return speak


@workflow.task(depends_on=["fan"])
def threads(ctx, fan):
    def worker():
        print("from a thread the task started")

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    print("working...", end="", flush=True)  # an explicit flush shows a partial line at once
    print(" done")
    for pct in (10, 50, 100):
        sys.stderr.write(f"\\rprogress {pct}%")  # a progress bar (tqdm) redraws one line and flushes
        sys.stderr.flush()
    sys.stderr.write("\\n")
    shell(["sh", "-c", "echo from the shell; echo shell err >&2"])
    return sum(fan)


@workflow.task(depends_on=["threads"])
def boom(ctx, threads, fail: bool = False):
    print("before the failure")
    if fail:
        raise RuntimeError("failing after printing")
    return threads
"""


@pytest.fixture
def talk_experiment(project, editor, workflow_dir):
    (workflow_dir / "talk.py").write_text(WORKFLOW)
    return experiment_create(user=editor, project=project, name="Talk", workflow_source="talk.py")


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


def _run(experiment, user, **params):
    [run] = run_launch(user=user, experiment=experiment, params=params)
    execution = Execution.objects.get(run=run)
    return Run.objects.get(pk=run.pk), execution


def _log(run, name: str) -> list[str]:
    return Asset.objects.get(run=run, kind="log", name=name).read_text().splitlines()


def test_prints_stderr_logging_threads_and_shell_land_in_the_task_logs(talk_experiment, editor):
    stdout, stderr = sys.stdout, sys.stderr
    run, execution = _run(talk_experiment, editor)
    assert execution_run(execution_id=execution.pk) == "succeeded"

    speak = _log(run, "speak.stdout")
    assert speak[:2] == ["hello from speak", "to stderr"]
    assert "WARNING talk.helpers: a warning from logging" in speak
    assert speak[-1] == "no newline at the end"  # the partial last line is written at task end
    assert sorted(_log(run, "fan.stdout")) == ["element 1", "element 2", "element 3"]  # pool threads
    threads = _log(run, "threads.stdout")
    assert threads[:4] == ["from a thread the task started", "working...", " done", "progress 100%"]
    assert "from the shell" in threads and "shell err" in threads and threads[-1].startswith("[exit 0 after")
    log = Asset.objects.get(run=run, name="threads.stdout")
    assert log.sha256 and log.line_count == len(threads) and log.producer_task == "threads"
    # the streams are put back once the execution ends
    assert sys.stdout is stdout and sys.stderr is stderr


def test_output_printed_before_a_failure_is_kept(talk_experiment, editor):
    run, execution = _run(talk_experiment, editor, fail=True)
    assert execution_run(execution_id=execution.pk) == "failed"
    assert _log(run, "boom.stdout") == ["before the failure"]


def test_output_outside_a_task_is_not_captured(talk_experiment, editor, capsys):
    run, execution = _run(talk_experiment, editor)
    assert execution_run(execution_id=execution.pk) == "succeeded"
    print("after the run")
    assert "after the run" in capsys.readouterr().out
    assert not Asset.objects.filter(name__endswith=".stdout").exclude(run=run).exists()


class _Hooks:
    def check_cancel(self):
        pass

    def task_started(self, name):
        pass

    def task_succeeded(self, name, output):
        pass

    def task_failed(self, name, exc):
        pass

    def task_reused(self, name, output):
        pass

    def task_skipped(self, name, reason):
        pass


def test_two_executions_in_one_process_keep_their_output_apart(tmp_path):
    """A worker with a thread pool runs executions side by side: each line lands in its own run's log, whole."""
    import threading

    from runs_app.workflow import Workflow
    from runs_app.workflow.context import RunContext
    from runs_app.workflow.engine import execute

    from .. import factories as f

    wf = Workflow("chatty")

    @wf.task
    def chat(ctx, who: str = ""):
        for i in range(300):
            print(f"{who} line {i}", end="")
            print(f" tail {i}")
        return who

    contexts = []
    for who in ("alpha", "beta"):
        run = f.RunFactory(params={"who": who})
        contexts.append(RunContext(run=run, execution=f.ExecutionFactory(run=run), workdir=tmp_path / who))
    barrier = threading.Barrier(2)

    def one(ctx):
        ctx.start()
        try:
            barrier.wait()
            execute(wf, ctx=ctx, params=ctx.params, config={}, hooks=_Hooks())
        finally:
            ctx.close()

    threads = [threading.Thread(target=one, args=(ctx,)) for ctx in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ctx in contexts:
        who = ctx.params["who"]
        assert _log(ctx.run, "chat.stdout") == [f"{who} line {i} tail {i}" for i in range(300)]
    assert sys.stdout is not None and type(sys.stdout).__name__ != "_CaptureStream"
