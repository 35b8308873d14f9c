"""Fixtures of the RO-Crate tests: a finished (and a failed) run executed in-process, and crate helpers."""

from __future__ import annotations

import io
import zipfile

import pytest

from runs_app.models import Execution, Run
from runs_app.services import execution_run, run_launch
from tests.runs_app.conftest import chem_experiment, workflow_dir  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Runs execute in-process; dispatch to a broker is the outside world here."""
    monkeypatch.setattr("runs_app.services.runs._dispatch", lambda executions: None)


def _execute(experiment, user, **kwargs) -> Run:
    [run] = run_launch(user=user, experiment=experiment, **kwargs)
    execution_run(execution_id=Execution.objects.get(run=run, number=1).pk)
    return Run.objects.select_related("experiment", "project", "workspace").get(pk=run.pk)


@pytest.fixture
def finished_run(chem_experiment, editor):  # noqa: F811
    return _execute(chem_experiment, editor, profile="quick-test")


@pytest.fixture
def failed_run(chem_experiment, editor):  # noqa: F811
    return _execute(chem_experiment, editor, params={"fail_in": "summarize"})


def export_bytes(run: Run, user, *, inputs: str = "include") -> bytes:
    from assets_app.services import crate_export

    buf = io.BytesIO()
    crate_export(user=user, run=run, out=buf, inputs=inputs)
    return buf.getvalue()


def zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}
