"""A tampered crate, imported by an editor, never executes on a real worker (SPEC §12, issue 11 item 1).

The crate's workflow source is altered to write a marker file when loaded, and
re-signed with valid digests. Through the API and the pages every action is
refused (409 / an error message); a clone row written by hand (as an older
release could have) reaches a real worker, which refuses it; and a launch of the
imported experiment runs the *server's* file. The marker never appears.
"""

from __future__ import annotations

import io
import os

import pytest
from django.conf import settings as django_settings

from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.models import Execution, Run
from runs_app.services import run_launch
from runs_app.services.dispatch import execution_dispatch
from tests.assets_app.crate_support import export_bytes, tampered_crate
from tests.runs_app import conftest as runs_fixtures

from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Fixtures of the run tests (pytest finds them as module attributes).
chem_experiment, workflow_dir = runs_fixtures.chem_experiment, runs_fixtures.workflow_dir


def _worker_env(tmp_path) -> dict[str, str]:
    return {
        "MOLEXP_WORKFLOW_DIRS": os.pathsep.join(django_settings.MOLEXP_WORKFLOW_DIRS),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "MOLEXP_WORK_DIR": str(tmp_path / "work"),
    }


def _terminal(pk: int) -> bool:
    return Run.objects.get(pk=pk).status in (RunStatus.SUCCEEDED, RunStatus.FAILED)


def test_tampered_crate_never_runs_on_a_worker(
    chem_experiment,
    editor,
    ws,
    viewer,
    tmp_path,
    celery_worker,
    api_client_for,
    web_client_for,
):
    marker = tmp_path / "crate-code-ran.txt"
    worker = celery_worker(env=_worker_env(tmp_path))
    [original] = run_launch(user=editor, experiment=chem_experiment, profile="quick-test")
    assert wait_until(lambda: _terminal(original.pk), timeout=90), worker.log_tail()
    original = Run.objects.get(pk=original.pk)
    assert original.status == RunStatus.SUCCEEDED, worker.log_tail()

    # The editor exports, alters the workflow source, re-signs and imports it.
    crate = tampered_crate(export_bytes(original, viewer), marker)
    api = api_client_for("editor")
    response = api.post(f"/api/workspaces/{ws.pk}/import/", {"file": io.BytesIO(crate)}, format="multipart")
    assert response.status_code == 201, response.content
    imported = Run.objects.get(pk=response.json()["run"])
    assert b"crate code ran" in bytes(imported.source_blob.content)
    before = Run.objects.count()

    # API: every action answers 409.
    for action in ("clone", "rerun", "resume", "cancel", "reproduce"):
        answer = api.post(f"/api/runs/{imported.pk}/{action}/", {}, format="json")
        assert answer.status_code == 409, (action, answer.content)
        assert answer.json()["detail"].startswith("imported runs are read-only")
    # Pages: every action is refused with a message.
    web = web_client_for("editor")
    for action in ("clone", "rerun", "resume", "reproduce"):
        page = web.post(f"/runs/{imported.pk}/{action}/", follow=True)
        assert "imported runs are read-only" in page.content.decode(), action
    assert Run.objects.count() == before

    # A clone row written by hand (an older release, a script): the real worker refuses it.
    forged = Run.objects.create(
        experiment=imported.experiment, project=imported.project, workspace=imported.workspace, number=500,
        status=RunStatus.QUEUED, params={}, workflow_snapshot=imported.workflow_snapshot,
        source_blob=imported.source_blob, cloned_from=imported,
    )  # fmt: skip
    execution = Execution.objects.create(run=forged, number=1, trigger="launch", status=ExecutionStatus.QUEUED)
    from django.db import transaction

    with transaction.atomic():
        execution_dispatch([(execution.pk, str(execution.uuid))])
    assert wait_until(lambda: _terminal(forged.pk), timeout=60), worker.log_tail()
    forged.refresh_from_db()
    assert forged.status == RunStatus.FAILED and "Refused: imported runs are read-only" in forged.error["message"]

    # A launch of the experiment the crate named runs the server's chem.py, not the crate's bytes.
    [fresh] = run_launch(user=editor, experiment=imported.experiment, profile="quick-test")
    assert wait_until(lambda: _terminal(fresh.pk), timeout=90), worker.log_tail()
    fresh.refresh_from_db()
    assert fresh.status == RunStatus.SUCCEEDED, worker.log_tail()
    assert fresh.source_blob_id == original.source_blob_id

    assert not marker.exists(), "code from the crate ran"
