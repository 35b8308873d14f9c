"""Import an exported crate into another workspace: same record, same assets by sha256, read-only."""

import io

import pytest

from assets_app.models import Asset, AssetUse
from molexp_site.errors import Conflict
from runs_app.crate import crate_import
from runs_app.models import Metric, Run, RunEvent, TaskExecution
from runs_app.services import run_cancel, run_rerun, run_resume

from . import crate_support as cs
from .crate_support import export_bytes

# Fixtures shared by the crate tests (pytest finds them as module attributes).
_no_broker, chem_experiment, workflow_dir = cs._no_broker, cs.chem_experiment, cs.workflow_dir
finished_run, failed_run = cs.finished_run, cs.failed_run

pytestmark = pytest.mark.django_db(transaction=True)


def _import(data: bytes, user, workspace, **kwargs):
    return crate_import(user=user, workspace=workspace, fileobj=io.BytesIO(data), **kwargs)


def _shas(run) -> list[tuple[str, str, str]]:
    return sorted(Asset.objects.filter(run=run).values_list("kind", "name", "sha256"))


def test_round_trip_into_a_second_workspace(finished_run, viewer, outsider, other_ws):
    result = _import(export_bytes(finished_run, viewer), outsider, other_ws)
    run = Run.objects.get(pk=result.run.pk)
    assert run.workspace == other_ws and run.project.name == "QM9" and run.experiment.name == "Chem"
    assert run.status == "succeeded" and run.number == 1
    assert run.results == finished_run.results
    assert run.config == finished_run.config and run.config_hash == finished_run.config_hash
    assert run.workflow_snapshot == finished_run.workflow_snapshot
    assert run.source_blob.sha256 == finished_run.source_blob.sha256
    assert run.imported["original"]["run_id"] == finished_run.pk
    assert run.imported["crate"] == "Chem run 1" and run.imported["exported_at"]
    original_outputs = _shas(finished_run)
    inputs = [("data", "ligands.csv", AssetUse.objects.get(run=finished_run).asset.sha256)]
    assert _shas(run) == sorted(original_outputs + inputs)
    assert all(Asset.objects.filter(run=run).values_list("imported", flat=True))
    for asset in Asset.objects.filter(run=run).exclude(file=""):
        assert asset.read_bytes()  # bytes stored content-addressed
    use = AssetUse.objects.get(run=run)
    assert use.asset.name == "ligands.csv" and use.task_name == "load" and use.execution.number == 1
    execution = run.executions.get()
    original = finished_run.executions.get()
    assert execution.started_at == original.started_at and execution.worker_pid == original.worker_pid
    assert execution.environment == original.environment
    assert list(TaskExecution.objects.filter(execution=execution).values_list("task_name", "status")) == list(
        TaskExecution.objects.filter(execution=original).values_list("task_name", "status")
    )
    assert list(RunEvent.objects.filter(run=run).values_list("to_status", "created_at")) == list(
        RunEvent.objects.filter(run=finished_run).values_list("to_status", "created_at")
    )
    assert Metric.objects.filter(run=run).count() == Metric.objects.filter(run=finished_run).count() == 2
    log = Asset.objects.get(run=run, name="featurize")
    original_log = Asset.objects.get(run=finished_run, name="featurize")
    assert log.line_count == 1 and log.producer_execution == execution
    assert log.producer_task == original_log.producer_task and log.size == original_log.size


def test_imported_runs_are_read_only(failed_run, viewer, outsider, other_ws):
    run = _import(export_bytes(failed_run, viewer), outsider, other_ws).run
    run = Run.objects.get(pk=run.pk)
    for service in (run_cancel, run_rerun, run_resume):
        with pytest.raises(Conflict, match="imported runs are read-only"):
            service(user=outsider, run=run)
    trace = Asset.objects.get(pk=run.error["traceback_asset"])  # remapped to the imported trace
    assert trace.run == run and trace.kind == "error_trace" and trace.exception_type == "ValueError"


def test_referenced_inputs_become_records_without_bytes(finished_run, viewer, outsider, other_ws):
    result = _import(export_bytes(finished_run, viewer, inputs="reference"), outsider, other_ws)
    assert result.referenced == 1
    data = Asset.objects.get(run=result.run, kind="data")
    original = AssetUse.objects.get(run=finished_run).asset
    assert data.sha256 == original.sha256 and data.size == original.size and not data.file
    assert data.metadata["crate_bytes"] == "referenced" and data.imported


def test_importing_twice_reuses_project_and_experiment(finished_run, viewer, outsider, other_ws):
    data = export_bytes(finished_run, viewer)
    first = _import(data, outsider, other_ws).run
    second = _import(data, outsider, other_ws).run
    assert first.experiment_id == second.experiment_id and (first.number, second.number) == (1, 2)


def test_import_into_a_named_project(finished_run, viewer, editor, project, ws):
    run = _import(export_bytes(finished_run, viewer), editor, ws, project=project).run
    assert run.project == project and run.experiment.name == "Chem" and run.number == 2
