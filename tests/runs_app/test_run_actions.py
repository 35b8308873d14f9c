"""Run actions are decided in one place (runs_app.policy): what a page offers is exactly what the services allow."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import PermissionDenied

from molexp_site.errors import Conflict
from runs_app.choices import ExecutionStatus, Role, RunStatus
from runs_app.models import SourceBlob
from runs_app.policy import CANCELLABLE, REPRODUCIBLE, RESTARTABLE, RunAction, run_action_refusal, run_actions
from runs_app.services import run_cancel, run_clone, run_reproduce, run_rerun, run_resume
from tests import factories as f

STATUSES = [s for s in RunStatus if s != RunStatus.PENDING]
SERVICES = {
    RunAction.CANCEL: run_cancel,
    RunAction.RERUN: run_rerun,
    RunAction.RESUME: run_resume,
    RunAction.CLONE: run_clone,
    RunAction.REPRODUCE: run_reproduce,
}


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


def _blob() -> SourceBlob:
    content = b"# a workflow\n"
    sha = hashlib.sha256(content).hexdigest()
    return SourceBlob.objects.get_or_create(sha256=sha, defaults={"content": content, "size": len(content)})[0]


def _run(experiment, status, *, imported=False, with_snapshot=True):
    run = f.RunFactory(experiment=experiment, status=status, imported=imported,
                       source_blob=_blob() if with_snapshot else None,
                       workflow_snapshot={"workflow_source": "chem.py", "workflow_name": "chem"})  # fmt: skip
    execution_status = {RunStatus.CANCELLING: ExecutionStatus.CANCELLING}.get(status, status)
    f.ExecutionFactory(run=run, number=1, status=execution_status)
    return run


def test_the_state_sets_are_the_documented_ones():
    assert set(CANCELLABLE) == {RunStatus.QUEUED, RunStatus.RUNNING}
    assert set(RESTARTABLE) == {RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.LOST}
    assert set(REPRODUCIBLE) == {RunStatus.SUCCEEDED, RunStatus.FAILED}


@pytest.mark.django_db
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", list(RunAction))
def test_the_editor_is_offered_exactly_what_the_service_does(experiment, editor, status, action):
    run = _run(experiment, status)
    offered = getattr(run_actions(run=run, role=Role.EDITOR), f"can_{action}")
    try:
        SERVICES[action](user=editor, run=run)
    except Conflict as exc:
        assert not offered, f"{action} offered on a {status} run but refused: {exc}"
        assert str(exc.message) == run_action_refusal(run=run, action=action)
    else:
        # Cancelling a run that is already cancelling is accepted as a no-op, but not offered.
        assert offered or (action == RunAction.CANCEL and status == RunStatus.CANCELLING), (action, status)


@pytest.mark.django_db
@pytest.mark.parametrize("action", list(RunAction))
def test_an_imported_run_offers_nothing_and_every_service_refuses(experiment, editor, action):
    run = _run(experiment, RunStatus.FAILED if action != RunAction.CANCEL else RunStatus.RUNNING, imported=True)
    actions = run_actions(run=run, role=Role.OWNER)
    assert actions.can_edit and not getattr(actions, f"can_{action}")
    with pytest.raises(Conflict, match="imported runs are read-only"):
        SERVICES[action](user=editor, run=run)


@pytest.mark.django_db
@pytest.mark.parametrize("action", [RunAction.CLONE, RunAction.REPRODUCE])
def test_a_run_without_snapshot_cannot_be_cloned_or_reproduced(experiment, editor, action):
    run = _run(experiment, RunStatus.SUCCEEDED, with_snapshot=False)
    assert not getattr(run_actions(run=run, role=Role.EDITOR), f"can_{action}")
    with pytest.raises(Conflict, match="has no stored workflow snapshot"):
        SERVICES[action](user=editor, run=run)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.VIEWER, None])
def test_a_viewer_or_an_outsider_is_offered_nothing(experiment, viewer, role):
    run = _run(experiment, RunStatus.FAILED)
    actions = run_actions(run=run, role=role)
    assert not any([actions.can_edit, actions.can_cancel, actions.can_rerun, actions.can_resume,
                    actions.can_clone, actions.can_reproduce, actions.can_restart])  # fmt: skip
    with pytest.raises(PermissionDenied):
        run_rerun(user=viewer, run=run)


@pytest.mark.django_db
def test_run_actions_reads_no_rows(django_assert_num_queries):
    run = f.RunFactory.build(status=RunStatus.FAILED, imported=False, source_blob_id=1)
    with django_assert_num_queries(0):
        actions = run_actions(run=run, role=Role.EDITOR)
    assert actions.can_restart and actions.can_clone and actions.can_reproduce and not actions.can_cancel
