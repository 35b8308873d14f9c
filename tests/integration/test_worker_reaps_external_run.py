"""A real worker's ``runs.maintenance`` reaps an external run (the molexp client) whose heartbeat stopped.

External executions have their own window (``MOLEXP_EXTERNAL_LOST_AFTER_SECONDS``) and are never
retried, whatever ``MOLEXP_LOST_RETRIES`` says: the server does not have their code (SPEC §13).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assets_app.choices import AssetKind
from assets_app.models import Asset
from molexp_site.celery import app
from runs_app.choices import ExecutionStatus, RunStatus, Trigger
from runs_app.models import Execution, RunEvent
from runs_app.services.external import external_logs_append
from tests import factories as f

from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _external_run(silent_for: timedelta):
    then = timezone.now() - silent_for
    run = f.RunFactory(status=RunStatus.RUNNING, started_at=then, workflow_snapshot={"external": True})
    execution = f.ExecutionFactory(run=run, number=1, trigger=Trigger.EXTERNAL, status=ExecutionStatus.RUNNING,
                                   worker_hostname="laptop", started_at=then, heartbeat_at=then)  # fmt: skip
    return run, execution


def test_worker_reaps_silent_external_run_without_retry(celery_worker):
    worker = celery_worker(env={"MOLEXP_LOST_RETRIES": "3", "MOLEXP_EXTERNAL_LOST_AFTER_SECONDS": "120"})
    run, execution = _external_run(timedelta(minutes=5))
    recent, recent_execution = _external_run(timedelta(seconds=60))  # within its window: left alone
    client_user = f.UserFactory(is_staff=True)
    for target in (run, recent):  # lines the client sent before it went silent: live logs (segments)
        external_logs_append(user=client_user, run=target, logs={"train": ["epoch 1 zanzibar", "epoch 2"]})
    Execution.objects.filter(pk__in=[execution.pk, recent_execution.pk]).update(
        heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    Execution.objects.filter(pk=recent_execution.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))

    app.send_task("runs.maintenance")

    def reaped() -> bool:
        run.refresh_from_db()
        return run.status == RunStatus.FAILED

    assert wait_until(reaped, timeout=30), f"run {run.status} after 30 s; worker log:\n{worker.log_tail()}"
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.LOST
    assert run.error["type"] == "ClientLost" and "laptop" in run.error["message"]
    assert list(RunEvent.objects.filter(run=run, subject="run").values_list("from_status", "to_status")) == [
        ("running", "lost"), ("lost", "failed"),
    ]  # fmt: skip
    assert not Execution.objects.filter(run=run, trigger=Trigger.RETRY).exists()
    recent.refresh_from_db()
    recent_execution.refresh_from_db()
    assert recent.status == RunStatus.RUNNING and recent_execution.status == ExecutionStatus.RUNNING

    # The same maintenance finalizes the lost run's log (hashed, searchable), not the live run's (SPEC §12).
    def finalized() -> bool:
        return not Asset.objects.get(run=run, kind=AssetKind.LOG, name="train").file.name.endswith("/")

    assert wait_until(finalized, timeout=30), f"log still live; worker log:\n{worker.log_tail()}"
    log = Asset.objects.get(run=run, kind=AssetKind.LOG, name="train")
    assert log.sha256 and not log.file.name.endswith("/") and "zanzibar" in log.search_text
    assert log.as_kind().line_count == 2
    assert Asset.objects.get(run=recent, kind=AssetKind.LOG, name="train").file.name.endswith("/")
