"""One real worker process runs each run from its own code bundle (SPEC §12): runs whose helper
modules differ each see their own helper, a clone runs the helper of its original, a new launch
the edited one, and the reproduction reports identical code file by file."""

from __future__ import annotations

import os

import pytest
from django.conf import settings as django_settings

from runs_app.choices import RunStatus
from runs_app.models import Run
from runs_app.services import experiment_create, run_clone, run_launch, run_reproduce
from tests.runs_app.snapshot_fixtures import write_helper, write_tree

from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def helped(project, editor, settings, tmp_path):
    root = tmp_path / "workflows"
    write_tree(root)
    settings.MOLEXP_WORKFLOW_DIRS = [str(root)]
    experiment = experiment_create(user=editor, project=project, name="Helped", workflow_source="helped.py")
    return experiment, root


def _done(run: Run, worker, timeout: float = 60) -> Run:
    assert wait_until(lambda: Run.objects.get(pk=run.pk).is_terminal, timeout=timeout), worker.log_tail()
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED, (run.error, worker.log_tail())
    return run


def test_runs_in_one_worker_process_each_see_their_own_helper(helped, editor, celery_worker):
    experiment, root = helped
    worker = celery_worker(env={"MOLEXP_WORKFLOW_DIRS": os.pathsep.join(django_settings.MOLEXP_WORKFLOW_DIRS)})
    [first] = run_launch(user=editor, experiment=experiment)
    first = _done(first, worker)
    write_helper(root, "new")  # the helper (and a package module) edited on disk after the first run
    (root / "pkg" / "deep.py").write_text("FACTOR = 3\n")
    [second] = run_launch(user=editor, experiment=experiment)
    second = _done(second, worker)
    assert first.results["helper"] == "old" and first.results["factor"] == 2
    assert second.results["helper"] == "new" and second.results["factor"] == 3
    assert first.results["pid"] == second.results["pid"]  # one worker process (solo pool)
    assert first.workflow_snapshot["snapshot_hash"] != second.workflow_snapshot["snapshot_hash"]
    assert first.fingerprint != second.fingerprint

    clone = _done(run_clone(user=editor, run=first), worker)  # the old helper, after the new one ran
    assert clone.results["helper"] == "old" and clone.results["factor"] == 2
    assert clone.results["pid"] == first.results["pid"]
    [fresh] = run_launch(user=editor, experiment=experiment)
    fresh = _done(fresh, worker)
    assert fresh.results["helper"] == "new" and fresh.fingerprint == second.fingerprint

    copy = run_reproduce(user=editor, run=first)
    assert wait_until(lambda: Run.objects.get(pk=copy.pk).verdict is not None, timeout=60), worker.log_tail()
    verdict = Run.objects.get(pk=copy.pk).verdict
    assert verdict["code"]["identical"] is True, verdict["code"]
    assert verdict["code"]["summary"].startswith("executed code identical file by file (5 files")
    assert verdict["reproduced"] is True, verdict["summary"]
    assert Run.objects.get(pk=copy.pk).results["helper"] == "old"
