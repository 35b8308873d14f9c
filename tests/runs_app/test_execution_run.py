"""The worker's task body, called in-process: claim once, record everything, fail cleanly, resume."""

import pytest

from assets_app.models import Asset, AssetUse
from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.models import Execution, Metric, Run, RunEvent, TaskExecution
from runs_app.services import execution_run, run_launch, run_resume
from runs_app.tasks import execution_run_task

pytestmark = pytest.mark.django_db(transaction=True)


def _launch(experiment, user, **kwargs):
    [run] = run_launch(user=user, experiment=experiment, **kwargs)
    return run, Execution.objects.get(run=run, number=1)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """These tests call the task body directly; dispatch to the broker is the outside world here."""
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


def test_success_records_everything_and_a_second_delivery_does_nothing(chem_experiment, editor):
    run, execution = _launch(chem_experiment, editor, profile="quick-test")
    assert execution_run_task.run(execution_id=execution.pk) == "succeeded"
    assert execution_run_task.run(execution_id=execution.pk) == "not-queued"

    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED
    assert run.results == {
        "n_molecules": 2,
        "total": float(sum(len(s) * 2.0 for s in ["CC(=O)OC1=CC=CC=C1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C"])),
    }
    execution = Execution.objects.get(pk=execution.pk)
    assert execution.status == ExecutionStatus.SUCCEEDED and execution.worker_pid
    assert execution.environment["python"] and "Django" in execution.environment["packages"]
    assert list(TaskExecution.objects.filter(execution=execution).values_list("task_name", "status")) == [
        ("load", "succeeded"),
        ("featurize", "succeeded"),
        ("summarize", "succeeded"),
    ]
    kinds = dict(Asset.objects.filter(run=run).values_list("name", "kind"))
    assert kinds["features.json"] == "artifact" and kinds["featurize"] == "log" and kinds["ckpt"] == "checkpoint"
    assert kinds["summarize.stdout"] == "log"
    log = Asset.objects.get(run=run, name="featurize")
    assert log.line_count == 1 and log.sha256
    assert Metric.objects.filter(run=run, key="length").count() == 2
    use = AssetUse.objects.get(run=run)
    assert use.asset.name == "ligands.csv" and use.task_name == "load"
    statuses = list(RunEvent.objects.filter(run=run, subject="run").values_list("to_status", flat=True))
    assert statuses == ["queued", "running", "succeeded"]


def test_failure_records_error_trace_and_keeps_earlier_writes(chem_experiment, editor):
    run, execution = _launch(chem_experiment, editor, params={"fail_in": "summarize"})
    assert execution_run(execution_id=execution.pk) == "failed"
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.FAILED
    assert run.error["type"] == "ValueError" and run.error["task"] == "summarize" and run.error["execution"] == 1
    trace = Asset.objects.get(pk=run.error["traceback_asset"])
    assert trace.kind == "error_trace" and trace.exception_type == "ValueError"
    assert "summary failed" in trace.traceback and trace.fingerprint
    assert Asset.objects.filter(run=run, name="features.json").exists()  # written before the failure
    assert run.results["n_molecules"] == 2
    assert TaskExecution.objects.get(execution=execution, task_name="summarize").status == "failed"


def test_resume_reuses_tasks_that_succeeded(chem_experiment, editor):
    run, execution = _launch(chem_experiment, editor, params={"fail_in": "summarize"})
    execution_run(execution_id=execution.pk)
    Run.objects.filter(pk=run.pk).update(params={})  # the cause is fixed (test shortcut)
    run = Run.objects.get(pk=run.pk)
    second = run_resume(user=editor, run=run)
    assert second.trigger == "resume" and second.number == 2
    assert execution_run(execution_id=second.pk) == "succeeded"
    tasks = {t.task_name: t for t in TaskExecution.objects.filter(execution=second)}
    assert tasks["load"].reused and tasks["featurize"].reused and not tasks["summarize"].reused
    assert Asset.objects.filter(run=run, name="features.json").count() == 1  # featurize did not run again
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED


def test_cancel_requested_before_start_ends_cancelled(chem_experiment, editor):
    run, execution = _launch(chem_experiment, editor)
    from runs_app.services import run_cancel

    run_cancel(user=editor, run=run)
    assert Run.objects.get(pk=run.pk).status == RunStatus.CANCELLED
    assert execution_run(execution_id=execution.pk) == "not-queued"


def test_broken_snapshot_fails_with_workflow_error(chem_experiment, editor):
    run, execution = _launch(chem_experiment, editor)
    run.source_blob.content = b"def broken(:\n"
    run.source_blob.save()
    assert execution_run(execution_id=execution.pk) == "failed"
    run = Run.objects.get(pk=run.pk)
    assert run.error["type"] == "WorkflowError" and "syntax error" in run.error["message"]
