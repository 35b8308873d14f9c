"""Imported records are inert (SPEC §12): a crate's code never runs, whatever an editor presses or calls.

Every test imports a *tampered* crate: the workflow source was changed to write a
marker file as soon as the module is loaded, and every digest was recomputed, so
the importer accepts it. No action on the imported run may make the marker appear.
"""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from molexp_site.errors import Conflict
from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.models import Execution, Run, RunEvent, SourceBlob, TaskExecution
from runs_app.policy import imported_refusal_message
from runs_app.selectors import run_source_diff
from runs_app.services import execution_run, run_clone, run_launch, run_reproduce, run_rerun, run_resume

from . import crate_support as cs
from .crate_support import export_bytes, resign, tampered_crate

_no_broker, chem_experiment, workflow_dir = cs._no_broker, cs.chem_experiment, cs.workflow_dir
finished_run, failed_run = cs.finished_run, cs.failed_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "crate-code-ran.txt"


def _import(crate: bytes, user, workspace) -> Run:
    from runs_app.crate import crate_import

    return Run.objects.get(pk=crate_import(user=user, workspace=workspace, fileobj=io.BytesIO(crate)).run.pk)


@pytest.fixture
def tampered_failed(failed_run, viewer, editor, ws, marker):
    """The failed run's crate with marker-writing code, imported into ``ws`` by an editor."""
    run = _import(tampered_crate(export_bytes(failed_run, viewer), marker), editor, ws)
    assert b"crate code ran" in bytes(run.source_blob.content)  # the importer took the altered bytes
    return run


@pytest.fixture
def tampered_finished(finished_run, viewer, editor, ws, marker):
    return _import(tampered_crate(export_bytes(finished_run, viewer), marker), editor, ws)


def test_services_refuse_every_action_on_an_imported_run(tampered_failed, editor, marker):
    before = (Run.objects.count(), Execution.objects.count())
    message = imported_refusal_message(number=tampered_failed.number, experiment=tampered_failed.experiment.name)
    for service in (run_clone, run_reproduce, run_rerun, run_resume):
        with pytest.raises(Conflict) as caught:
            service(user=editor, run=tampered_failed)
        assert caught.value.message == message
    assert (Run.objects.count(), Execution.objects.count()) == before
    assert not marker.exists()


def test_reproduce_command_refuses_an_imported_run(tampered_finished, editor, marker):
    with pytest.raises(CommandError, match="imported runs are read-only"):
        call_command("reproduce", str(tampered_finished.pk), "--user", editor.username)
    assert not Run.objects.filter(reproduction_of=tampered_finished).exists()
    assert not marker.exists()


def test_page_actions_are_refused_and_not_offered(tampered_failed, tampered_finished, web_client_for, marker):
    client = web_client_for("editor")
    before = Run.objects.count()
    for run, actions in ((tampered_failed, ("clone", "rerun", "resume", "reproduce")),
                         (tampered_finished, ("clone", "reproduce"))):  # fmt: skip
        for action in actions:
            response = client.post(f"/runs/{run.pk}/{action}/", follow=True)
            assert response.status_code == 200
            assert "imported runs are read-only" in response.content.decode(), action
        page = client.get(run.get_absolute_url()).content.decode()
        for offered in ("Launch a clone", "Clone…", 'id="reproduce-button"', ">Rerun<", ">Resume<"):
            assert offered not in page, offered
        assert "never runs here" in page
        panel = client.get(f"/runs/{run.pk}/reproduce/panel/").content.decode()
        assert 'id="reproduce-button"' not in panel
        how_to = client.get(f"/runs/{run.pk}/how-to/").content.decode()
        assert 'id="how-to-imported"' in how_to and "how-to-reproduce-command" not in how_to
    assert Run.objects.count() == before
    assert not marker.exists()


def test_worker_refuses_a_run_that_reuses_an_imported_snapshot(tampered_finished, editor, marker):
    """Rows written by hand or by an older release: a clone of the imported run, queued. The worker refuses it."""
    clone = Run.objects.create(
        experiment=tampered_finished.experiment, project=tampered_finished.project,
        workspace=tampered_finished.workspace, number=99, status=RunStatus.QUEUED, params={},
        workflow_snapshot=tampered_finished.workflow_snapshot, source_blob=tampered_finished.source_blob,
        cloned_from=tampered_finished,
    )  # fmt: skip
    grandchild = Run.objects.create(
        experiment=clone.experiment, project=clone.project, workspace=clone.workspace, number=100,
        status=RunStatus.QUEUED, params={}, workflow_snapshot=clone.workflow_snapshot,
        source_blob=clone.source_blob, reproduction_of=clone,
    )  # fmt: skip
    for run in (clone, grandchild):
        execution = Execution.objects.create(run=run, number=1, trigger="launch", status=ExecutionStatus.QUEUED)
        assert execution_run(execution_id=execution.pk) == "failed"
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED and run.error["message"].startswith(
            "Refused: imported runs are read-only"
        )
        assert not TaskExecution.objects.filter(execution=execution).exists()
    assert not marker.exists()
    with pytest.raises(Conflict):
        run_rerun(user=editor, run=clone)  # and the services refuse the descendants too
    with pytest.raises(Conflict):
        run_clone(user=editor, run=grandchild)


def test_worker_never_claims_an_execution_added_to_an_imported_run(tampered_finished, marker):
    execution = Execution.objects.create(run=tampered_finished, number=2, trigger="rerun",
                                         status=ExecutionStatus.QUEUED)  # fmt: skip
    assert execution_run(execution_id=execution.pk) in ("not-claimed", "failed")
    assert Run.objects.get(pk=tampered_finished.pk).status == RunStatus.SUCCEEDED
    assert not marker.exists()


def test_launching_the_imported_experiment_runs_the_server_file(tampered_finished, editor, marker):
    """The experiment the crate created names ``chem.py``: a launch reads the server's file, never the crate's."""
    [run] = run_launch(user=editor, experiment=tampered_finished.experiment, profile="quick-test")
    assert execution_run(execution_id=run.executions.get().pk) == "succeeded"
    run.refresh_from_db()
    assert run.source_blob_id != tampered_finished.source_blob_id
    assert b"crate code ran" not in bytes(run.source_blob.content)
    assert not marker.exists()


def test_pickled_output_references_are_not_imported(failed_run, viewer, editor, ws):
    def edit(rec: dict) -> None:
        rec["executions"][0]["tasks"][0]["output_ref"] = {"blob": "blobs/aa/bb/evil", "format": "pickle",
                                                          "sha256": "0" * 64, "size": 5}  # fmt: skip

    run = _import(resign(export_bytes(failed_run, viewer), record=edit), editor, ws)
    refs = [t.output_ref for t in TaskExecution.objects.filter(execution__run=run)]
    assert all("blob" not in (ref or {}) for ref in refs)
    assert any((ref or {}).get("unavailable") for ref in refs)


def test_source_diff_of_an_imported_run_reads_no_server_file(finished_run, viewer, editor, ws, workflow_dir):
    (workflow_dir / "_secret.py").write_text("PASSWORD = 'zanzibar-secret'\n")

    def edit(rec: dict) -> None:
        rec["run"]["workflow_snapshot"]["workflow_source"] = "_secret.py"
        rec["experiment"]["workflow_source"] = "chem.py"

    run = _import(resign(export_bytes(finished_run, viewer), record=edit), editor, ws)
    diff = run_source_diff(run=run)
    assert diff["status"] == "imported" and diff["diff"] == ""
    client = Client()
    client.force_login(editor)
    assert "zanzibar-secret" not in client.get(run.get_absolute_url()).content.decode()


def test_a_refused_action_writes_nothing(tampered_failed, editor):
    events = RunEvent.objects.filter(run=tampered_failed).count()
    with pytest.raises(Conflict):
        run_rerun(user=editor, run=tampered_failed)
    assert RunEvent.objects.filter(run=tampered_failed).count() == events
    assert SourceBlob.objects.filter(pk=tampered_failed.source_blob_id).exists()
