"""POST /api/experiments/{id}/launch/ and launch-preview/: validated by the launch service, queued after commit.

The workflow directory is a temporary one (``workflow_dir``) whose molcfg.yaml has
a profile with a dash (``quick-test``). No broker is needed: the dispatch is an
on-commit callback, captured and not executed.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs_app.fingerprint import run_fingerprint
from runs_app.models import Execution, Run
from runs_app.services import run_launch
from tests import factories as f

pytestmark = pytest.mark.django_db

BODY = {"profile": "quick-test", "overrides": ["optimizer.lr=5e-4"], "params": {"x": 1}}
EXPECTED_CONFIG = {"scale": 2.0, "optimizer": {"lr": 5e-4}}
SNAPSHOT_KEYS = {
    "workflow_source",
    "source_sha256",
    "topology_hash",
    "git_commit",
    "git_branch",
    "git_dirty",
    "git_diff",
}


def _hash(config: dict) -> str:
    payload = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _launch(client, experiment, body, capture):
    with capture(execute=False) as callbacks:
        response = client.post(f"/api/experiments/{experiment.pk}/launch/", body, format="json")
    return response, callbacks


def test_launch_returns_the_run_with_its_record(
    api_client_for, chem_experiment, workflow_dir, django_capture_on_commit_callbacks
):
    response, callbacks = _launch(api_client_for("editor"), chem_experiment, BODY, django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    assert len(callbacks) == 1
    [run] = response.json()["runs"]
    assert run["number"] == 1 and run["status"] == "queued"
    assert run["profile"] == "quick_test"
    assert run["config"] == EXPECTED_CONFIG
    assert run["config_hash"] == _hash(EXPECTED_CONFIG)
    assert run["params"] == {"x": 1}
    assert run["overrides"] == ["optimizer.lr=5e-4"]
    assert run["launched_by"] == "editor"
    snapshot = run["workflow_snapshot"]
    assert SNAPSHOT_KEYS <= set(snapshot)
    assert snapshot["workflow_source"] == "chem.py"
    source = (workflow_dir / "chem.py").read_bytes()
    assert snapshot["source_sha256"] == hashlib.sha256(source).hexdigest()
    assert len(snapshot["topology_hash"]) == 64
    assert snapshot["git_dirty"] is None  # the temporary directory is not a git repository
    assert [(e["number"], e["trigger"], e["status"]) for e in run["executions"]] == [(1, "launch", "queued")]
    assert Run.objects.get(pk=run["id"]).config_hash == run["config_hash"]


def test_launch_with_defaults_only(api_client_for, chem_experiment, django_capture_on_commit_callbacks):
    response, callbacks = _launch(api_client_for("owner"), chem_experiment, {}, django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    [run] = response.json()["runs"]
    assert run["params"] == {} and run["config"] == {"scale": 1.0, "optimizer": {"lr": 0.001}}
    assert len(callbacks) == 1


def test_sweep_launches_one_run_per_cell(api_client_for, chem_experiment, django_capture_on_commit_callbacks):
    body = {"profile": "quick_test", "sweep": {"lr": [0.1, 0.2], "seed": [0, 1, 2]}}
    response, callbacks = _launch(api_client_for("editor"), chem_experiment, body, django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    runs = response.json()["runs"]
    assert [r["number"] for r in runs] == [1, 2, 3, 4, 5, 6]
    assert {(r["params"]["lr"], r["params"]["seed"]) for r in runs} == {(a, b) for a in (0.1, 0.2) for b in (0, 1, 2)}
    assert all(len(r["executions"]) == 1 for r in runs)
    assert len(callbacks) == 1  # one dispatch per launch, sending every execution
    assert Execution.objects.count() == 6


def test_sweep_response_costs_constant_queries(api_client_for, chem_experiment, django_capture_on_commit_callbacks):
    client = api_client_for("editor")
    _launch(client, chem_experiment, {}, django_capture_on_commit_callbacks)  # stores the source blob once
    counts = []
    for values in ([1, 2], list(range(12))):
        with CaptureQueriesContext(connection) as ctx:
            response, _ = _launch(
                client, chem_experiment, {"sweep": {"seed": values}}, django_capture_on_commit_callbacks
            )
        assert response.status_code == 201
        counts.append(len(ctx))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"profile": "nope"}, "Unknown profile 'nope'"),
        ({"overrides": ["novalue"]}, "Malformed override"),
        ({"overrides": "optimizer.lr=1"}, "overrides"),
        ({"sweep": {"lr": 0.1}}, "Sweep axis 'lr' must be a list"),
        ({"sweep": {"lr": []}}, "has no values"),
        ({"sweep": [0.1, 0.2]}, "sweep"),
        ({"params": [1, 2]}, "params"),
        ({"params": "lr=1"}, "params"),
        ({"params": {"x": 1}, "sweep": {"a": [1]}}, "not both"),
    ],
)
def test_bad_launch_is_400_naming_the_problem_and_creates_nothing(api_client_for, chem_experiment, body, text):
    response = api_client_for("editor").post(f"/api/experiments/{chem_experiment.pk}/launch/", body, format="json")
    assert response.status_code == 400, response.content
    assert text in response.json()["detail"]
    assert Run.objects.count() == 0 and Execution.objects.count() == 0


def test_unknown_workflow_file_is_400(api_client_for, chem_experiment, workflow_dir):
    (workflow_dir / "chem.py").unlink()
    response = api_client_for("editor").post(f"/api/experiments/{chem_experiment.pk}/launch/", {}, format="json")
    assert response.status_code == 400
    assert "workflow_source" in response.json()
    assert Run.objects.count() == 0


@pytest.mark.parametrize("body", ["[1, 2]", "null", "42", '{"profile": '])
def test_malformed_bodies_are_400(api_client_for, chem_experiment, body):
    url = f"/api/experiments/{chem_experiment.pk}/launch/"
    response = api_client_for("editor").post(url, data=body, content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"]
    assert Run.objects.count() == 0


@pytest.mark.parametrize("pk", ["abc", "0", "1.5", "99999999999999999999999"])
@pytest.mark.parametrize("action", ["launch", "launch-preview"])
def test_odd_experiment_ids_are_json_404(api_client_for, chem_experiment, pk, action):
    response = api_client_for("owner").post(f"/api/experiments/{pk}/{action}/", {}, format="json")
    assert response.status_code == 404 and response.json()["detail"]


@pytest.mark.parametrize(
    ("role", "launch", "preview"),
    [
        ("owner", 201, 200),
        ("editor", 201, 200),
        ("viewer", 403, 200),
        ("outsider", 404, 404),
        ("anonymous", 401, 401),
    ],
)
def test_role_matrix(api_client_for, users, chem_experiment, role, launch, preview, django_capture_on_commit_callbacks):
    client = api_client_for(role)
    preview_response = client.post(f"/api/experiments/{chem_experiment.pk}/launch-preview/", BODY, format="json")
    assert preview_response.status_code == preview, preview_response.content
    response, callbacks = _launch(client, chem_experiment, BODY, django_capture_on_commit_callbacks)
    assert response.status_code == launch, response.content
    assert Run.objects.count() == (1 if launch == 201 else 0)
    assert len(callbacks) == (1 if launch == 201 else 0)
    if launch >= 400:
        assert response.json()["detail"]


def test_viewer_is_refused_before_the_body_is_read(api_client_for, users, chem_experiment):
    url = f"/api/experiments/{chem_experiment.pk}/launch/"
    assert api_client_for("viewer").post(url, {"params": [1]}, format="json").status_code == 403


# --- preview ------------------------------------------------------------------------------


def test_preview_resolves_the_config_and_writes_nothing(api_client_for, chem_experiment):
    url = f"/api/experiments/{chem_experiment.pk}/launch-preview/"
    response = api_client_for("viewer").post(url, BODY, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    snapshot_hash = body.pop("snapshot_hash")
    cells = body.pop("cells")
    assert body == {
        "profile": "quick_test",
        "config": EXPECTED_CONFIG,
        "config_hash": _hash(EXPECTED_CONFIG),
        "run_count": 1,
        "existing_runs": [],
        "existing_count": 0,
        "warnings": [],
    }
    assert len(snapshot_hash) == 64
    assert cells == [
        {
            "params": BODY["params"],
            "fingerprint": run_fingerprint(snapshot_hash=snapshot_hash, workflow_name="chem",
                                           config_hash=_hash(EXPECTED_CONFIG), params=BODY["params"]),
            "succeeded_run": None,
        }
    ]  # fmt: skip
    assert Run.objects.count() == 0


def test_preview_counts_sweep_cells(api_client_for, chem_experiment):
    url = f"/api/experiments/{chem_experiment.pk}/launch-preview/"
    body = {"sweep": {"lr": [0.1, 0.2, 0.3], "seed": [0, 1]}}
    assert api_client_for("viewer").post(url, body, format="json").json()["run_count"] == 6


def test_preview_lists_runs_of_the_workspace_with_the_same_config(
    api_client_for, chem_experiment, editor, project, other_ws, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        [first] = run_launch(
            user=editor, experiment=chem_experiment, profile="quick-test", overrides=["optimizer.lr=5e-4"]
        )
        run_launch(user=editor, experiment=chem_experiment, profile="default")
    digest = _hash(EXPECTED_CONFIG)
    sibling = f.ExperimentFactory(project=project, name="Sibling")
    for number in range(1, 12):
        f.RunFactory(experiment=sibling, number=number, config_hash=digest)
    f.RunFactory(experiment=f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws)), config_hash=digest)

    url = f"/api/experiments/{chem_experiment.pk}/launch-preview/"
    body = api_client_for("viewer").post(url, BODY, format="json").json()
    assert body["existing_count"] == 12
    assert len(body["existing_runs"]) == 10
    newest = body["existing_runs"][0]
    assert set(newest) == {"id", "number", "status", "experiment", "experiment_name", "url"}
    assert newest["experiment_name"] == "Sibling" and newest["number"] == 11
    assert newest["url"] == Run.objects.get(pk=newest["id"]).get_absolute_url()
    assert first.pk not in [r["id"] for r in body["existing_runs"]]  # oldest, beyond the first 10


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"profile": "nope"}, "Unknown profile 'nope'"),
        ({"overrides": ["novalue"]}, "Malformed override"),
        ({"sweep": {"lr": 0.1}}, "must be a list"),
        ({"params": [1]}, "params"),
    ],
)
def test_bad_preview_is_400(api_client_for, chem_experiment, body, text):
    url = f"/api/experiments/{chem_experiment.pk}/launch-preview/"
    response = api_client_for("viewer").post(url, body, format="json")
    assert response.status_code == 400
    assert text in response.json()["detail"]
