"""Drill (SPEC §11): a worker SIGKILLed while its task writes artifacts keeps what was recorded.

Both configurations. The task saves a 256 KiB artifact, a log line and a metric
point every 50 ms, so the kill lands among writes. Afterwards (lost → retry →
succeeded): every artifact whose save() had returned is there with its bytes,
every flushed log line and metric point is still there, no temporary file is
under ``blobs/``, and every asset file has its recorded size and SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage

from assets_app.models import Asset
from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.models import Execution, Metric, Run, RunEvent
from runs_app.services import run_launch

from .conftest import wait_until
from .drill_support import drill_experiment, maintain_until, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def drill(project, editor, settings, tmp_path):
    return drill_experiment(project=project, editor=editor, settings=settings, tmp_path=tmp_path)


def test_worker_killed_mid_write_keeps_every_recorded_artifact_line_and_point(drill, editor, celery_worker):
    env = worker_env(MOLEXP_LOST_AFTER_SECONDS="4")
    first = celery_worker(env=env)
    [run] = run_launch(user=editor, experiment=drill, params={"i": 3, "sleep": 4, "blob_kb": 256})
    assert wait_until(lambda: Asset.objects.filter(run=run, name="chunk.bin").count() >= 10, timeout=60), (
        first.log_tail()
    )
    os.killpg(os.getpgid(first.proc.pid), signal.SIGKILL)
    first.proc.wait(timeout=10)
    killed_at = time.monotonic()
    killed = Execution.objects.get(run=run, number=1)
    saved = {a.pk: (a.sha256, a.size) for a in Asset.objects.filter(run=run, kind="artifact")}
    lines = Asset.objects.get(run=run, name="drill").line_count
    points = set(Metric.objects.filter(execution=killed).values_list("key", "step", "value"))
    assert lines > 0 and points

    second = celery_worker(env=env)
    assert maintain_until(lambda: Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED, timeout=60), (
        second.log_tail()
    )
    recovered = time.monotonic() - killed_at
    killed.refresh_from_db()
    assert killed.status == ExecutionStatus.LOST
    assert Execution.objects.get(run=run, number=2).trigger == "retry"
    assert list(RunEvent.objects.filter(run=run, subject="run").values_list("to_status", flat=True)) == [
        "queued", "running", "lost", "queued", "running", "succeeded",
    ]  # fmt: skip

    # Every artifact whose save() returned before the kill is there, unchanged.
    after = {a.pk: (a.sha256, a.size) for a in Asset.objects.filter(run=run, kind="artifact")}
    assert saved.items() <= after.items()
    # Every flushed log line and metric point of the killed execution is still there.
    assert Asset.objects.get(run=run, name="drill").line_count >= lines
    assert points <= set(Metric.objects.filter(execution=killed).values_list("key", "step", "value"))
    # No partial file is visible: temporary files live outside blobs/, published ones are whole.
    blobs = Path(django_settings.MEDIA_ROOT) / "blobs"
    assert not list(blobs.rglob("*.part"))
    for asset in Asset.objects.filter(run=run).exclude(file=""):
        path = Path(default_storage.path(asset.file.name))
        assert path.is_file(), asset.file.name
        data = path.read_bytes()
        if asset.kind != "log":  # a run's log file is appended to by every execution; see its own checks
            assert (len(data), hashlib.sha256(data).hexdigest()) == (asset.size, asset.sha256), asset.name
    print(
        f"\nDRILL worker-killed: killed after {len(saved)} artifacts, {lines} log lines, {len(points)} points "
        f"were recorded; all still there; run succeeded on retry {recovered:.1f} s after the kill"
    )
