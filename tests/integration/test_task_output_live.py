"""What a task prints is on the run page while the run runs, in a real worker, and a killed worker's
output log is finalized by the maintenance (SPEC §12)."""

from __future__ import annotations

import os
import signal

import pytest
from django.conf import settings as django_settings

from assets_app.models import Asset
from runs_app.choices import RunStatus
from runs_app.models import Run
from runs_app.services import experiment_create, run_cancel, run_launch
from runs_app.tasks import maintenance_task

from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKFLOW = """
import logging
import time

from runs_app.workflow import Workflow

workflow = Workflow("talk")


@workflow.task
def talk(ctx, wait: float = 60):
    print("x")
    logging.getLogger("talk").info("told x")
    deadline = time.time() + wait
    while time.time() < deadline:
        ctx.check_cancel()
        time.sleep(0.1)
    return 1
"""


@pytest.fixture
def talk(project, editor, settings, tmp_path):
    wf = tmp_path / "workflows"
    wf.mkdir()
    (wf / "talk.py").write_text(WORKFLOW)
    (wf / "molcfg.yaml").write_text("version: 1\ndefaults: {}\nprofiles: {default: {}}\n")
    settings.MOLEXP_WORKFLOW_DIRS = [str(wf)]
    return experiment_create(user=editor, project=project, name="Talk", workflow_source="talk.py")


def _env(**extra: str) -> dict:
    return {
        "MOLEXP_WORKFLOW_DIRS": os.pathsep.join(django_settings.MOLEXP_WORKFLOW_DIRS),
        "MOLEXP_HEARTBEAT_SECONDS": "1",
        **extra,
    }


def _status(run) -> str:
    return Run.objects.get(pk=run.pk).status


def test_printed_line_is_on_the_run_page_while_the_run_runs(talk, editor, celery_worker, web_client_for):
    worker = celery_worker(env=_env())
    [run] = run_launch(user=editor, experiment=talk)
    assert wait_until(lambda: _status(run) == RunStatus.RUNNING, timeout=60), worker.log_tail()
    client = web_client_for("viewer")

    def page_shows_x() -> bool:
        html = client.get(f"/assets/runs/{run.pk}/logs/").content.decode()
        return "talk.stdout" in html and '<pre class="molexp-pre molexp-log m-3" id="log-tail">x\n' in html

    assert wait_until(page_shows_x, timeout=15), worker.log_tail()
    assert _status(run) == RunStatus.RUNNING  # seen live, not after the end
    log = Asset.objects.get(run=run, name="talk.stdout")
    assert log.read_text().splitlines() == ["x", "INFO talk: told x"]

    run_cancel(user=editor, run=Run.objects.get(pk=run.pk))
    assert wait_until(lambda: _status(run) == RunStatus.CANCELLED, timeout=30), worker.log_tail()
    log.refresh_from_db()
    assert log.sha256 and not log.file.name.endswith("/")  # finalized by the worker itself


def test_output_log_of_a_killed_worker_is_finalized_by_the_maintenance(
    talk, editor, celery_worker, settings, api_client_for
):
    settings.MOLEXP_LOST_AFTER_SECONDS = 3
    settings.MOLEXP_LOST_RETRIES = 0
    worker = celery_worker(env=_env())
    [run] = run_launch(user=editor, experiment=talk)
    stdout_log = Asset.objects.filter(run=run, name="talk.stdout")
    assert wait_until(lambda: (stdout_log.values_list("line_count", flat=True).first() or 0) >= 2, timeout=60), (
        worker.log_tail()
    )
    os.killpg(os.getpgid(worker.proc.pid), signal.SIGKILL)
    worker.proc.wait(timeout=10)

    def finalized() -> bool:
        maintenance_task()
        return bool(stdout_log.values_list("sha256", flat=True).first())

    assert wait_until(finalized, timeout=30, interval=1)
    assert _status(run) == RunStatus.FAILED
    log = stdout_log.get()
    assert log.read_text() == "x\nINFO talk: told x\n" and not log.file.name.endswith("/")
    response = api_client_for("viewer").get("/api/assets/", {"q": "told", "run": run.pk})
    assert [row["id"] for row in response.json()["results"]] == [log.pk]
