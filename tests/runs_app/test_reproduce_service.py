"""run_reproduce and the verdict, with the worker's task body called in-process."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from assets_app.models import AssetUse
from assets_app.services import asset_create, blob_store_bytes
from molexp_site.errors import Conflict
from runs_app.choices import RunStatus
from runs_app.models import Execution, Run
from runs_app.services import run_launch, run_reproduce

from .reproduce_workflows import *  # noqa: F403 - fixtures (steady, noisy, repro_dir, _no_broker) and helpers
from .reproduce_workflows import execute, finished_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_deterministic_workflow_reproduces_with_all_artifacts_identical(steady, editor):
    original = finished_run(steady, editor, profile="double", overrides=["scale=3"])
    assert original.status == RunStatus.SUCCEEDED
    copy = run_reproduce(user=editor, run=original)
    assert copy.status == RunStatus.QUEUED and copy.reproduction_of_id == original.pk
    assert copy.source_blob_id == original.source_blob_id and copy.config == original.config
    assert copy.config_hash == original.config_hash and copy.profile == "double" and copy.params == original.params
    assert copy.number == original.number + 1 and copy.experiment_id == original.experiment_id
    copy = execute(copy)
    verdict = copy.verdict
    assert verdict["reproduced"] is True, verdict["summary"]
    assert verdict["summary"] == "reproduced: 2 of 2 artifacts identical, results equal, metrics within 1e-09"
    assert {a["name"]: a["status"] for a in verdict["artifacts"]["items"]} == {
        "total.txt": "identical",
        "values.json": "identical",
    }
    assert verdict["results"]["equal"] and verdict["metrics"]["within"]
    assert verdict["metrics"]["items"] == [
        {"key": "value", "within": True, "original": {"last": 12.0, "count": 4},
         "reproduction": {"last": 12.0, "count": 4}}
    ]  # fmt: skip
    assert verdict["environment"]["same"] and verdict["environment"]["recorded"]
    assert Run.objects.get(pk=original.pk).verdict is None


def test_clock_and_unseeded_random_are_not_reproduced_naming_the_artifacts(noisy, editor):
    original = finished_run(noisy, editor)
    copy = execute(run_reproduce(user=editor, run=original))
    verdict = copy.verdict
    assert verdict["reproduced"] is False
    states = {a["name"]: a["status"] for a in verdict["artifacts"]["items"]}
    assert states == {"draw.json": "different", "stable.txt": "identical", "stamp.txt": "different"}
    assert verdict["summary"].startswith("not reproduced: 2 of 3 artifacts differ (draw.json, stamp.txt)")
    assert "results differ (draw)" in verdict["summary"] and "metrics outside 1e-09 (draw)" in verdict["summary"]


def test_metric_tolerance_comes_from_the_setting(noisy, editor, settings):
    settings.MOLEXP_REPRODUCE_RTOL = 10.0  # any two draws in [0, 1) are "within" a relative 1000 %
    original = finished_run(noisy, editor)
    verdict = execute(run_reproduce(user=editor, run=original)).verdict
    assert verdict["metrics"]["rtol"] == 10.0 and verdict["metrics"]["within"]
    assert not verdict["reproduced"]


def test_reproduction_uses_the_pinned_input_version_not_the_newest(steady, editor, project):
    original = finished_run(steady, editor)
    [used] = AssetUse.objects.filter(run=original)
    newer = asset_create(kind="data", name="numbers.txt", project=project, blob=blob_store_bytes(b"10 20 30 40"))
    assert newer.version == used.asset.version + 1
    copy = run_reproduce(user=editor, run=original)
    assert copy.input_pins == {"numbers.txt": used.asset_id}
    copy = execute(copy)
    [pinned_use] = AssetUse.objects.filter(run=copy)
    assert pinned_use.asset_id == used.asset_id != newer.pk
    assert copy.verdict["reproduced"] is True and copy.results == original.results
    # a fresh launch takes the newest version
    fresh = finished_run(steady, editor)
    assert AssetUse.objects.get(run=fresh).asset_id == newer.pk


def test_pins_never_leave_the_workspace(steady, editor, other_ws, outsider):
    foreign = asset_create(kind="data", name="numbers.txt", workspace=other_ws, blob=blob_store_bytes(b"666"))
    [run] = run_launch(user=editor, experiment=steady)
    Run.objects.filter(pk=run.pk).update(input_pins={"numbers.txt": foreign.pk})
    run = execute(run)
    assert run.status == RunStatus.FAILED and "no longer there" in run.error["message"]
    assert not AssetUse.objects.filter(asset=foreign).exists()


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.LOST])
def test_reproduce_refuses_unfinished_runs(steady, editor, status):
    [run] = run_launch(user=editor, experiment=steady)
    Run.objects.filter(pk=run.pk).update(status=status)
    run.refresh_from_db()
    with pytest.raises(Conflict, match="only a succeeded or failed run"):
        run_reproduce(user=editor, run=run)
    assert not Run.objects.filter(reproduction_of=run).exists()


def test_failed_run_can_be_reproduced_and_the_verdict_compares_failures(steady, editor):
    [run] = run_launch(user=editor, experiment=steady, params={"dataset": "absent.txt"})
    run = execute(run)
    assert run.status == RunStatus.FAILED
    verdict = execute(run_reproduce(user=editor, run=run)).verdict
    assert verdict["run_status"] == {"original": "failed", "reproduction": "failed", "equal": True}
    assert verdict["reproduced"] is True and verdict["artifacts"]["total"] == 0


def test_reproduce_needs_editor(steady, editor, viewer, outsider, owner):
    original = finished_run(steady, editor)
    with pytest.raises(PermissionDenied):
        run_reproduce(user=viewer, run=original)
    with pytest.raises(Http404):
        run_reproduce(user=outsider, run=original)
    assert run_reproduce(user=owner, run=original).reproduction_of_id == original.pk


def test_dispatch_happens_after_commit(steady, editor, monkeypatch, django_capture_on_commit_callbacks):
    original = finished_run(steady, editor)
    sent = []
    monkeypatch.undo()
    monkeypatch.setattr("molexp_site.celery.app.send_task", lambda *a, **k: sent.append(k["kwargs"]))
    with django_capture_on_commit_callbacks(execute=True):
        copy = run_reproduce(user=editor, run=original)
    assert sent == [{"execution_id": Execution.objects.get(run=copy).pk}]
