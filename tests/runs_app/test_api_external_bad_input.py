"""External-run endpoints (SPEC §13): bad input is a clear 4xx that writes nothing; outsiders get 404."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from rest_framework.test import APIClient

from runs_app.models import Experiment, Metric, Run


@pytest.fixture
def api(editor):
    client = APIClient()
    client.force_authenticate(editor)
    return client


def _entry(data: bytes) -> dict:
    """One snapshot file as the client sends it: sha256 and size computed by the client, bytes in base64."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "content": base64.b64encode(data).decode()}


def _create(api, project, ws, **extra):
    body = {"experiment": f"{ws.slug}/{project.slug}/ext", "run_uuid": str(uuid.uuid4()), "create_experiment": True}
    return api.post("/api/external/runs/", {**body, **extra}, format="json")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"run_uuid": "nope"}, "run_uuid"),
        ({"experiment": "only/two"}, "experiment"),
        ({"config": [1, 2]}, "config"),
        ({"params": "x"}, "params"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": "2999-01-01T00:00:00"}, "started_at"),
        ({"snapshot": {"files": {"../etc/passwd": _entry(b"x")}}}, "snapshot"),
        ({"snapshot": {"files": {"a.py": {**_entry(b"x"), "content": "not base64!"}}}}, "snapshot"),
        ({"snapshot": {"files": {"a.py": "eA=="}}}, "snapshot"),  # the old path → base64 form
        ({"snapshot": {"files": {"a.py": {**_entry(b"x=1"), "sha256": "0" * 64}}}}, "snapshot"),
        ({"snapshot": {"files": {"a.py": {**_entry(b"x=1"), "size": 4}}}}, "snapshot"),
        ({"snapshot": {"files": {"a.py": _entry(b"x=1")}, "snapshot_hash": "f" * 64}}, "snapshot"),
        ({"snapshot": {"files": {"a.py": _entry(b"x=1")}, "script": "b.py"}}, "snapshot"),
        ({"git": {"untracked": "a.py"}}, "git"),
        ({"git": {"workflow_state": "clean"}}, "git"),
        ({"pid": -1}, "pid"),
        ({"profile": 5}, "profile"),
    ],
)
def test_create_refuses_bad_input(db, api, ws, project, extra, field):
    response = _create(api, project, ws, **extra)
    assert response.status_code == 400, response.content
    assert field in response.json() or field in str(response.json())
    assert not Run.objects.exists()


def test_naive_start_time_is_utc_and_unknown_experiment_is_404(db, api, ws, project):
    response = _create(api, project, ws, started_at="2020-01-02T03:04:05")
    assert response.status_code == 201
    assert Run.objects.get().started_at.isoformat() == "2020-01-02T03:04:05+00:00"
    missing = api.post("/api/external/runs/", {"experiment": f"{ws.slug}/{project.slug}/absent",
                                               "run_uuid": str(uuid.uuid4())}, format="json")  # fmt: skip
    assert missing.status_code == 404


def test_writes_refuse_bad_batches(db, api, ws, project):
    run_id = _create(api, project, ws, snapshot={"script": "a.py", "files": {"a.py": _entry(b"x=1")}}).json()["id"]
    base = f"/api/external/runs/{run_id}/"
    for path, body in [
        ("metrics/", {"points": [["loss", "high"]]}),
        ("metrics/", {"points": [["loss", 1.0, 1.5]]}),
        ("metrics/", {"points": [["loss", 1.0, 1, "yesterday"]]}),
        ("metrics/", {"points": [["loss", 1.0, 1, 4102444800]]}),  # 2100: in the future
        ("metrics/", {"points": [["loss", 1.0, 1, -5]]}),
        ("metrics/", {"points": "x"}),
        ("logs/", {"logs": {"train": [1, 2]}}),
        ("logs/", {"logs": ["x"]}),
        ("results/", {"results": [1]}),
        ("metrics/", {"points": [["loss", 1.0]], "seq": "abc"}),
        ("finish/", {"status": "maybe"}),
        ("inputs/", {"name": "x", "version": "two"}),
        ("checkpoints/", {"name": "c", "tags": 5}),
        ("checkpoints/", {"name": "c", "tags": [1]}),
        ("inputs/", {"name": "x", "kind": {"a": 1}}),
    ]:
        response = api.post(base + path, body, format="json")
        assert response.status_code == 400, (path, body, response.content)
    assert not Metric.objects.exists()
    assert api.post(base + "inputs/", {"name": "absent"}, format="json").status_code == 404
    assert Run.objects.get().status == "running"


def test_outsider_and_viewer(db, api, ws, project, outsider, viewer):
    run_id = _create(api, project, ws).json()["id"]
    for user, status in ((outsider, 404), (viewer, 403)):
        other = APIClient()
        other.force_authenticate(user)
        assert (
            other.post(f"/api/external/runs/{run_id}/metrics/", {"points": [["a", 1]]}, format="json").status_code
            == status
        )
        assert (
            other.post(f"/api/external/runs/{run_id}/finish/", {"status": "succeeded"}, format="json").status_code
            == status
        )
    assert not Metric.objects.exists() and Run.objects.get().status == "running"
    outsider_api = APIClient()
    outsider_api.force_authenticate(outsider)
    created = outsider_api.post("/api/external/runs/", {"experiment": f"{ws.slug}/{project.slug}/mine",
                                "run_uuid": str(uuid.uuid4()), "create_experiment": True}, format="json")  # fmt: skip
    assert created.status_code == 404 and not Experiment.objects.filter(slug="mine").exists()


def test_resent_batch_is_applied_once(db, api, ws, project):
    run_id = _create(api, project, ws).json()["id"]
    for _ in range(2):
        response = api.post(
            f"/api/external/runs/{run_id}/metrics/", {"points": [["a", 1.0, 0]], "seq": 1}, format="json"
        )
        assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert Metric.objects.count() == 1


def test_worker_runs_are_not_external(db, api, ws, project):
    from tests import factories as f

    run = f.RunFactory(experiment=f.ExperimentFactory(project=project), status="running")
    assert api.post(f"/api/external/runs/{run.pk}/metrics/", {"points": []}, format="json").status_code == 400


def test_the_record_is_a_worker_runs_record(db, api, ws, project, workflow_dir, editor, monkeypatch):
    """Same keys as a worker run's snapshot (plus ``external``), same hash, storage and fingerprint (SPEC §12/§13)."""
    from runs_app import snapshot as code_snapshot
    from runs_app.fingerprint import run_fingerprint
    from runs_app.services import experiment_create, run_launch

    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)
    experiment = experiment_create(user=editor, project=project, name="Chem", workflow_source="chem.py")
    [worker_run] = run_launch(user=editor, experiment=experiment)
    files = {"train.py": _entry(b"import helpers\n"), "helpers.py": _entry(b"X = 1\n"),
             "molcfg.yaml": _entry(b"profiles: {}\n")}  # fmt: skip
    git = {"commit": "a" * 40, "branch": "main", "dirty": True, "diff": "-x\n+y", "untracked": ["new.py"],
           "untracked_count": 1, "workflow_state": "modified"}  # fmt: skip
    response = _create(api, project, ws, snapshot={"script": "train.py", "files": files}, git=git,
                       config={"lr": 1}, params={"seed": 2})  # fmt: skip
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    snap = run.workflow_snapshot
    assert set(snap) == set(worker_run.workflow_snapshot) | {"external"}
    manifest = {path: {"sha256": e["sha256"], "size": e["size"]} for path, e in files.items()}
    assert snap["files"] == manifest and snap["snapshot_hash"] == code_snapshot.manifest_hash(manifest)
    assert snap["source_sha256"] == files["train.py"]["sha256"] and snap["molcfg"] == "profiles: {}\n"
    assert (snap["git_commit"], snap["git_untracked"], snap["git_workflow_state"]) == ("a" * 40, ["new.py"], "modified")
    assert run.fingerprint == run_fingerprint(snapshot_hash=snap["snapshot_hash"], workflow_name="train",
                                              config_hash=run.config_hash, params={"seed": 2})  # fmt: skip
    assert code_snapshot.bundle_file_read(files["helpers.py"]["sha256"]) == b"X = 1\n"  # content-addressed
    assert bytes(run.source_blob.content) == b"import helpers\n"


def test_a_file_whose_bytes_do_not_match_stores_nothing(db, api, ws, project, workflow_dir):
    bad = {**_entry(b"print(1)\n"), "sha256": hashlib.sha256(b"other").hexdigest()}
    good = _entry(b"GOOD = 1\n")
    response = _create(api, project, ws, snapshot={"script": "a.py", "files": {"a.py": bad, "b.py": good}})
    assert response.status_code == 400 and "sha256" in str(response.json())
    from runs_app import snapshot as code_snapshot

    with pytest.raises(FileNotFoundError):
        code_snapshot.bundle_file_read(good["sha256"])
    assert not Run.objects.exists()


def test_metric_points_keep_the_time_the_client_logged_them(db, api, ws, project):
    from datetime import UTC, datetime

    run_id = _create(api, project, ws).json()["id"]
    logged = datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)
    points = [["loss", 0.5, 1, logged.timestamp()], ["loss", 0.4, 2, None], ["acc", 0.9]]
    assert api.post(f"/api/external/runs/{run_id}/metrics/", {"points": points}, format="json").status_code == 200
    rows = dict(Metric.objects.filter(run_id=run_id).values_list("step", "created_at"))
    assert rows[1] == logged and rows[2].year >= 2025 and Metric.objects.filter(run_id=run_id, key="acc").exists()
