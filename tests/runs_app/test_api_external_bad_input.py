"""External-run endpoints (SPEC §13): bad input is a clear 4xx that writes nothing; outsiders get 404."""

from __future__ import annotations

import base64
import uuid

import pytest
from rest_framework.test import APIClient

from runs_app.models import Experiment, Metric, Run


@pytest.fixture
def api(editor):
    client = APIClient()
    client.force_authenticate(editor)
    return client


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
        ({"snapshot": {"files": {"../etc/passwd": "eA=="}}}, "snapshot"),
        ({"snapshot": {"files": {"a.py": "not base64!"}}}, "snapshot"),
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
    run_id = _create(
        api, project, ws, snapshot={"script": "a.py", "files": {"a.py": base64.b64encode(b"x=1").decode()}}
    ).json()["id"]
    base = f"/api/external/runs/{run_id}/"
    for path, body in [
        ("metrics/", {"points": [["loss", "high"]]}),
        ("metrics/", {"points": [["loss", 1.0, 1.5]]}),
        ("metrics/", {"points": "x"}),
        ("logs/", {"logs": {"train": [1, 2]}}),
        ("logs/", {"logs": ["x"]}),
        ("results/", {"results": [1]}),
        ("metrics/", {"points": [["loss", 1.0]], "seq": "abc"}),
        ("finish/", {"status": "maybe"}),
        ("inputs/", {"name": "x", "version": "two"}),
        ("artifacts/", {"name": "x"}),
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
