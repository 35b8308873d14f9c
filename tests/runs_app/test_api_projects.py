"""Projects over the API: list by workspace, create in a visible workspace, hide others' workspaces."""

from __future__ import annotations

import pytest

from runs_app.models import Project
from tests import factories as f


def test_create_project_in_own_workspace(api_client_for, ws):
    response = api_client_for("editor").post(
        "/api/projects/", {"workspace": ws.pk, "name": "Docking", "description": "d"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["workspace"] == ws.pk and body["slug"] == "docking" and body["experiment_count"] == 0
    assert Project.objects.get(pk=body["id"]).created_by.username == "editor"


def test_invisible_and_nonexistent_workspace_get_the_same_answer(api_client_for, ws, other_ws):
    client = api_client_for("owner")
    invisible = client.post("/api/projects/", {"workspace": other_ws.pk, "name": "x"}, format="json")
    missing = client.post("/api/projects/", {"workspace": 987654, "name": "x"}, format="json")
    assert invisible.status_code == missing.status_code == 400
    assert (
        invisible.json()
        == missing.json()
        == {"detail": "workspace: No such workspace.", "workspace": ["No such workspace."]}
    )
    assert not Project.objects.filter(workspace=other_ws).exists()


def test_viewer_cannot_create_a_project(api_client_for, ws):
    response = api_client_for("viewer").post("/api/projects/", {"workspace": ws.pk, "name": "x"}, format="json")
    assert response.status_code == 403
    assert "editor" in response.json()["detail"]


def test_duplicate_slug_in_workspace_is_400(api_client_for, project):
    response = api_client_for("owner").post(
        "/api/projects/", {"workspace": project.workspace_id, "name": "QM9 again", "slug": "qm9"}, format="json"
    )
    assert response.status_code == 400
    assert "slug" in response.json()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {"workspace": "abc", "name": "x"},
        {"workspace": True, "name": "x"},
        {"workspace": 1.5, "name": "x"},
        {"workspace": {"id": 1}, "name": "x"},
        {"workspace": "{ws}"},
        {"workspace": "{ws}", "name": None},
        [],
        "just a string",
    ],
    ids=["no-workspace", "str-id", "bool-id", "float-id", "dict-id", "no-name", "null-name", "list-body", "str-body"],
)
def test_bad_project_bodies_are_400(api_client_for, ws, body):
    if isinstance(body, dict):
        body = {k: (ws.pk if v == "{ws}" else v) for k, v in body.items()}
    response = api_client_for("owner").post("/api/projects/", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_list_filters_by_workspace(api_client_for, ws, project, owner):
    second = f.WorkspaceFactory(slug="second")
    f.MembershipFactory(workspace=second, user=owner, role="owner")
    f.ProjectFactory(workspace=second, name="Other")
    client = api_client_for("owner")
    assert client.get("/api/projects/").json()["count"] == 2
    body = client.get(f"/api/projects/?workspace={ws.pk}").json()
    assert [p["slug"] for p in body["results"]] == ["qm9"]


def test_project_fields(api_client_for, project, experiment):
    body = api_client_for("viewer").get(f"/api/projects/{project.pk}/").json()
    assert set(body) == {
        "id", "workspace", "name", "slug", "description", "created_by", "created_at", "experiment_count",
        "archived_at",
    }  # fmt: skip
    assert body["experiment_count"] == 1
