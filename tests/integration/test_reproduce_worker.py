"""A run reproduced end to end by a real worker: the verdict is computed by the worker, inputs stay pinned."""

from __future__ import annotations

import os

import pytest
from django.conf import settings as django_settings

from assets_app.models import AssetUse
from assets_app.services import asset_create, blob_store_bytes
from runs_app.choices import RunStatus
from runs_app.models import Run
from runs_app.services import experiment_create, run_launch, run_reproduce

from .conftest import wait_until
from .lifecycle_workflow import MOLCFG, WORKFLOW

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lifecycle(project, editor, settings, tmp_path):
    wf = tmp_path / "workflows"
    wf.mkdir()
    (wf / "lifecycle.py").write_text(WORKFLOW)
    (wf / "molcfg.yaml").write_text(MOLCFG)
    settings.MOLEXP_WORKFLOW_DIRS = [str(wf)]
    asset_create(kind="data", name="numbers.txt", workspace=project.workspace, blob=blob_store_bytes(b"1 2 3 4 5 6 7"))
    return experiment_create(user=editor, project=project, name="Lifecycle", workflow_source="lifecycle.py")


def test_reproduction_runs_in_the_worker_and_gets_a_verdict(lifecycle, editor, project, celery_worker):
    worker = celery_worker(env={"MOLEXP_WORKFLOW_DIRS": os.pathsep.join(django_settings.MOLEXP_WORKFLOW_DIRS)})
    [original] = run_launch(user=editor, experiment=lifecycle, profile="quick-check")
    assert wait_until(lambda: Run.objects.get(pk=original.pk).status == RunStatus.SUCCEEDED, timeout=60), (
        worker.log_tail()
    )
    original = Run.objects.get(pk=original.pk)
    old_input = AssetUse.objects.get(run=original).asset_id
    asset_create(kind="data", name="numbers.txt", workspace=project.workspace, blob=blob_store_bytes(b"9 9 9 9 9"))

    copy = run_reproduce(user=editor, run=original)
    assert wait_until(lambda: Run.objects.get(pk=copy.pk).verdict is not None, timeout=60), worker.log_tail()
    copy = Run.objects.get(pk=copy.pk)
    assert copy.status == RunStatus.SUCCEEDED and copy.reproduction_of_id == original.pk
    assert AssetUse.objects.get(run=copy).asset_id == old_input
    verdict = copy.verdict
    assert verdict["reproduced"] is True, verdict["summary"]
    assert verdict["summary"].startswith("reproduced: 2 of 2 artifacts identical, results equal")
    assert copy.results == original.results
