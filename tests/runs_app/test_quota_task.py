"""A task whose artifact save passes the workspace quota fails with ``QuotaExceeded`` (SPEC §14)."""

import pytest

from runs_app.choices import RunStatus
from runs_app.models import Execution, Run, Workspace
from runs_app.services import execution_run, run_launch
from runs_app.workflow.context import RunContext
from runs_app.workflow.errors import QuotaExceeded

from .. import factories as f


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """The task body is called in-process; dispatch to the broker is the outside world here."""
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


@pytest.mark.django_db
def test_ctx_artifact_save_raises_quota_exceeded(tmp_path):
    run = f.RunFactory()
    Workspace.objects.filter(pk=run.workspace_id).update(storage_quota_bytes=10)
    ctx = RunContext(run=run, execution=f.ExecutionFactory(run=run), workdir=tmp_path)
    with pytest.raises(QuotaExceeded, match="Storage quota exceeded"):
        ctx.artifact.save("big.txt", "x" * 100)


@pytest.mark.django_db(transaction=True)
def test_run_fails_with_quota_exceeded(chem_experiment, editor):
    [run] = run_launch(user=editor, experiment=chem_experiment, profile="quick-test")
    Workspace.objects.filter(pk=run.workspace_id).update(storage_quota_bytes=1)
    execution = Execution.objects.get(run=run, number=1)
    assert execution_run(execution_id=execution.pk) == "failed"
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.FAILED
    assert run.error["type"] == "QuotaExceeded" and "Storage quota exceeded" in run.error["message"]
