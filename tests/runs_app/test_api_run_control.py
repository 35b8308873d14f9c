"""POST /api/runs/{id}/cancel/ | rerun/ | resume/ | clone/: editors and owners; 409 for a run in the wrong state.

Runs are launched through ``run_launch`` in a temporary workflow directory; no
broker is needed because dispatches are on-commit callbacks, captured and not run.
"""

from __future__ import annotations

import pytest

from runs_app.models import Execution, Run
from runs_app.profiles import config_hash
from runs_app.services import run_launch
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def launched(chem_experiment, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        [run] = run_launch(user=editor, experiment=chem_experiment, profile="quick-test", params={"x": 1})
    return run


def _set_status(run, status):
    Run.objects.filter(pk=run.pk).update(status=status)


def _post(client, run, action, body=None, *, capture):
    with capture(execute=False) as callbacks:
        response = client.post(f"/api/runs/{run.pk}/{action}/", body or {}, format="json")
    return response, callbacks


# --- cancel -------------------------------------------------------------------------------


def test_cancel_queued_run_ends_it_at_once(api_client_for, launched, django_capture_on_commit_callbacks):
    response, _ = _post(api_client_for("editor"), launched, "cancel", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == launched.pk and body["status"] == "cancelled" and body["cancel_requested"] is True
    assert [e["status"] for e in body["executions"]] == ["cancelled"]


def test_cancel_running_run_asks_it_to_stop(api_client_for, launched, django_capture_on_commit_callbacks):
    _set_status(launched, "running")
    Execution.objects.filter(run=launched).update(status="running")
    response, callbacks = _post(api_client_for("owner"), launched, "cancel", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelling"
    assert response.json()["executions"][0]["status"] == "cancelling"
    assert len(callbacks) == 1  # the terminate-after-grace is scheduled after commit


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled", "lost"])
def test_cancel_finished_run_is_409(api_client_for, launched, status, django_capture_on_commit_callbacks):
    _set_status(launched, status)
    response, _ = _post(api_client_for("editor"), launched, "cancel", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 409
    assert status in response.json()["detail"]
    assert Run.objects.get(pk=launched.pk).status == status


# --- rerun and resume ---------------------------------------------------------------------


@pytest.mark.parametrize("action", ["rerun", "resume"])
@pytest.mark.parametrize("status", ["failed", "cancelled", "lost"])
def test_restart_adds_an_execution(api_client_for, launched, action, status, django_capture_on_commit_callbacks):
    _set_status(launched, status)
    Execution.objects.filter(run=launched).update(status="failed")
    response, callbacks = _post(api_client_for("editor"), launched, action, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] == launched.pk and body["status"] == "queued" and body["error"] is None
    assert [(e["number"], e["trigger"], e["status"]) for e in body["executions"]] == [
        (1, "launch", "failed"),
        (2, action, "queued"),
    ]
    assert len(callbacks) == 1


@pytest.mark.parametrize("action", ["rerun", "resume"])
@pytest.mark.parametrize("status", ["queued", "running", "cancelling", "succeeded"])
def test_restart_of_unfinished_or_succeeded_run_is_409(
    api_client_for, launched, action, status, django_capture_on_commit_callbacks
):
    _set_status(launched, status)
    response, callbacks = _post(api_client_for("editor"), launched, action, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 409
    assert "failed, cancelled or lost" in response.json()["detail"]
    assert Execution.objects.filter(run=launched).count() == 1 and not callbacks


# --- clone --------------------------------------------------------------------------------


def test_clone_copies_snapshot_config_and_params(api_client_for, launched, django_capture_on_commit_callbacks):
    _set_status(launched, "succeeded")
    response, callbacks = _post(api_client_for("editor"), launched, "clone", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] != launched.pk and body["number"] == 2 and body["status"] == "queued"
    assert body["cloned_from"] == launched.pk
    assert body["config"] == launched.config and body["config_hash"] == launched.config_hash
    assert body["params"] == {"x": 1} and body["profile"] == "quick_test"
    assert body["workflow_snapshot"] == launched.workflow_snapshot
    assert [e["trigger"] for e in body["executions"]] == ["launch"]
    assert len(callbacks) == 1


def test_clone_with_edits(api_client_for, launched, django_capture_on_commit_callbacks):
    edits = {"overrides": ["optimizer.lr=0.5"], "params": {"y": 2}}
    response, _ = _post(api_client_for("owner"), launched, "clone", edits, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["config"] == {"scale": 2.0, "optimizer": {"lr": 0.5}}
    assert body["config_hash"] == config_hash(body["config"])
    assert body["params"] == {"y": 2}


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"overrides": ["novalue"]}, "Malformed override"),
        ({"overrides": "a=1"}, "overrides"),
        ({"params": [1, 2]}, "params"),
    ],
)
def test_bad_clone_is_400_and_creates_nothing(api_client_for, launched, body, text):
    response = api_client_for("editor").post(f"/api/runs/{launched.pk}/clone/", body, format="json")
    assert response.status_code == 400
    assert text in response.json()["detail"]
    assert Run.objects.count() == 1


def test_clone_without_stored_snapshot_is_409(api_client_for, run):
    response = api_client_for("editor").post(f"/api/runs/{run.pk}/clone/", {}, format="json")
    assert response.status_code == 409
    assert Run.objects.count() == 1


# --- permissions and odd ids --------------------------------------------------------------

SUCCESS = {"cancel": 200, "rerun": 201, "resume": 201, "clone": 201}
START = {"cancel": "queued", "rerun": "failed", "resume": "failed", "clone": "succeeded"}


@pytest.mark.parametrize("role", ["owner", "editor", "viewer", "outsider", "anonymous"])
@pytest.mark.parametrize("action", list(SUCCESS))
def test_role_matrix(api_client_for, users, launched, role, action, django_capture_on_commit_callbacks):
    _set_status(launched, START[action])
    expected = {"owner": SUCCESS[action], "editor": SUCCESS[action], "viewer": 403, "outsider": 404, "anonymous": 401}
    response, _ = _post(api_client_for(role), launched, action, capture=django_capture_on_commit_callbacks)
    assert response.status_code == expected[role], response.content
    if expected[role] >= 400:
        assert response.json()["detail"]
        assert Run.objects.get(pk=launched.pk).status == START[action]
        assert Run.objects.count() == 1 and Execution.objects.count() == 1


@pytest.mark.parametrize("action", list(SUCCESS))
def test_viewer_gets_403_whatever_the_state(api_client_for, launched, action):
    _set_status(launched, "succeeded")
    response = api_client_for("viewer").post(f"/api/runs/{launched.pk}/{action}/", {}, format="json")
    assert response.status_code == 403


@pytest.mark.parametrize("pk", ["abc", "0", "1.5", "99999999999999999999999"])
@pytest.mark.parametrize("action", list(SUCCESS))
def test_odd_run_ids_are_json_404(api_client_for, run, pk, action):
    response = api_client_for("owner").post(f"/api/runs/{pk}/{action}/", {}, format="json")
    assert response.status_code == 404 and response.json()["detail"]


@pytest.mark.parametrize("action", list(SUCCESS))
def test_get_is_405(api_client_for, run, action):
    assert api_client_for("owner").get(f"/api/runs/{run.pk}/{action}/").status_code == 405


def test_other_workspace_run_is_404_for_members(api_client_for, users, other_ws):
    foreign = f.RunFactory(experiment=f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws)))
    assert api_client_for("owner").post(f"/api/runs/{foreign.pk}/cancel/").status_code == 404
