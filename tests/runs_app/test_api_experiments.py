"""Experiments over the API: created from a workflow file with its git state; pinned field names."""

from __future__ import annotations

import pytest

from runs_app.models import Experiment

LIST_FIELDS = {
    "id", "workspace", "project", "name", "slug", "description", "workflow_source", "workflow_name",
    "git_commit", "git_branch", "git_dirty", "git_workflow_state", "created_by", "created_at", "run_count",
    "archived_at",
}  # fmt: skip


@pytest.fixture
def workflow_dir(tmp_path, settings):
    (tmp_path / "flow.py").write_text("# a workflow\n")
    settings.MOLEXP_WORKFLOW_DIRS = [str(tmp_path)]
    return tmp_path


def test_create_experiment_records_workflow_and_git_fields(api_client_for, project, workflow_dir):
    response = api_client_for("editor").post(
        "/api/experiments/",
        {"project": project.pk, "name": "Sweep LR", "workflow_source": "flow.py", "workflow_name": "train"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == LIST_FIELDS | {"git_diff", "git_untracked", "topology"}
    assert body["workflow_source"] == "flow.py" and body["workflow_name"] == "train"
    assert body["project"] == project.pk and body["workspace"] == project.workspace_id
    assert body["slug"] == "sweep-lr"
    # tmp_path is outside any git repository: recorded as such, not as an error.
    assert body["git_commit"] == "" and body["git_dirty"] is None
    assert body["git_workflow_state"] == "" and body["git_untracked"] == []
    assert Experiment.objects.filter(pk=body["id"]).exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [("missing.py", "No workflow file"), ("../etc/passwd.py", "relative path"), ("flow.txt", "not a Python file")],
)
def test_bad_workflow_source_is_a_field_error(api_client_for, project, workflow_dir, source, message):
    response = api_client_for("owner").post(
        "/api/experiments/", {"project": project.pk, "name": "x", "workflow_source": source}, format="json"
    )
    assert response.status_code == 400
    assert "workflow_source" in response.json()
    assert message in response.json()["detail"]


def test_invisible_and_nonexistent_project_get_the_same_answer(api_client_for, project, other_ws, workflow_dir):
    from tests import factories as f

    foreign = f.ProjectFactory(workspace=other_ws)
    client = api_client_for("owner")
    body = {"name": "x", "workflow_source": "flow.py"}
    invisible = client.post("/api/experiments/", {**body, "project": foreign.pk}, format="json")
    missing = client.post("/api/experiments/", {**body, "project": 987654}, format="json")
    assert invisible.status_code == missing.status_code == 400
    assert invisible.json() == missing.json()
    assert invisible.json()["project"] == ["No such project."]


def test_viewer_cannot_create_an_experiment(api_client_for, project, workflow_dir):
    response = api_client_for("viewer").post(
        "/api/experiments/", {"project": project.pk, "name": "x", "workflow_source": "flow.py"}, format="json"
    )
    assert response.status_code == 403


def test_duplicate_slug_in_project_is_400(api_client_for, experiment, workflow_dir):
    response = api_client_for("owner").post(
        "/api/experiments/",
        {"project": experiment.project_id, "name": "Again", "slug": "baseline", "workflow_source": "flow.py"},
        format="json",
    )
    assert response.status_code == 400
    assert "slug" in response.json()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "workflow_source": "flow.py"},
        {"project": "{p}", "name": "x"},
        {"project": "{p}", "workflow_source": 5},
    ],
    ids=["no-project", "no-workflow", "no-name"],
)
def test_missing_fields_are_400(api_client_for, project, workflow_dir, body):
    body = {k: (project.pk if v == "{p}" else v) for k, v in body.items()}
    response = api_client_for("owner").post("/api/experiments/", body, format="json")
    assert response.status_code == 400


def test_list_rows_and_detail_fields(api_client_for, experiment):
    client = api_client_for("viewer")
    listed = client.get(f"/api/experiments/?project={experiment.project_id}").json()
    assert listed["count"] == 1
    assert set(listed["results"][0]) == LIST_FIELDS
    detail = client.get(f"/api/experiments/{experiment.pk}/").json()
    assert set(detail) == LIST_FIELDS | {"git_diff", "git_untracked", "topology"}
