"""Small workflows and fixtures for the reproduce tests (import the fixtures into a test module)."""

from __future__ import annotations

import pytest

from assets_app.services import asset_create, blob_store_bytes
from runs_app.models import Execution, Run
from runs_app.services import execution_run, experiment_create, run_launch

from .workflow_fixtures import write_fresh_folder

DETERMINISTIC = """
from runs_app.workflow import Workflow

workflow = Workflow("steady")


@workflow.task
def load(ctx, dataset: str = "numbers.txt"):
    return [int(x) for x in ctx.find_asset(dataset).read_text().split()]


@workflow.task(depends_on=["load"])
def compute(ctx, load, scale: float = 1.0):
    values = [v * scale for v in load]
    ctx.artifact.save("values.json", values)
    ctx.artifact.save("total.txt", str(sum(values)))
    for step, v in enumerate(values):
        ctx.log_metric("value", v, step=step)
    ctx.set_result("total", sum(values))
    ctx.set_result("count", len(values))
    return sum(values)
"""

NOISY = """
import random
import time

from runs_app.workflow import Workflow

workflow = Workflow("noisy")


@workflow.task
def sample(ctx):
    ctx.artifact.save("stable.txt", "always the same")
    ctx.artifact.save("stamp.txt", repr(time.time()))
    draw = random.random()
    ctx.artifact.save("draw.json", {"draw": draw})
    ctx.log_metric("draw", draw)
    ctx.set_result("draw", draw)
"""

MOLCFG = """
version: 1
defaults:
  scale: 1.0
profiles:
  default: {}
  double:
    scale: 2.0
"""


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """The task body runs in-process here; dispatch to the broker is the outside world."""
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


@pytest.fixture(scope="session")
def _repro_dir_path(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-repro") / "workflows"


@pytest.fixture
def repro_dir(tmp_path, settings, _repro_dir_path):
    """``steady.py``, ``noisy.py`` and ``molcfg.yaml``, written afresh for each test (``write_fresh_folder``)."""
    wf = write_fresh_folder(_repro_dir_path, {"steady.py": DETERMINISTIC, "noisy.py": NOISY, "molcfg.yaml": MOLCFG})
    settings.MOLEXP_WORKFLOW_DIRS = [str(wf)]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.MOLEXP_WORK_DIR = tmp_path / "work"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return wf


@pytest.fixture
def steady(project, editor, repro_dir):
    asset_create(kind="data", name="numbers.txt", project=project, blob=blob_store_bytes(b"1 2 3 4"))
    return experiment_create(user=editor, project=project, name="Steady", workflow_source="steady.py")


@pytest.fixture
def noisy(project, editor, repro_dir):
    return experiment_create(user=editor, project=project, name="Noisy", workflow_source="noisy.py")


def execute(run: Run) -> Run:
    execution = Execution.objects.get(run=run, number=1)
    execution_run(execution_id=execution.pk)
    return Run.objects.get(pk=run.pk)


def finished_run(experiment, user, **kwargs) -> Run:
    [run] = run_launch(user=user, experiment=experiment, **kwargs)
    return execute(run)


__all__ = ["_no_broker", "_repro_dir_path", "execute", "finished_run", "noisy", "repro_dir", "steady"]
