"""Every runs_app endpoint × verb under the owner/editor/viewer/outsider/anonymous matrix.

Outsiders are signed in but belong only to ``other_ws``: objects of ``ws`` are
404 for them (never 403, which would reveal them), and a parent id they cannot
see is refused like a nonexistent one (400). Anonymous callers get 401.
"""

from __future__ import annotations

import pytest

from tests import factories as f

ROLES = ("owner", "editor", "viewer", "outsider", "anonymous")


def _expect(owner, editor, viewer, outsider, anonymous=401):
    return dict(zip(ROLES, (owner, editor, viewer, outsider, anonymous), strict=True))


@pytest.fixture
def workflow_dir(tmp_path, settings):
    (tmp_path / "flow.py").write_text("# a workflow\n")
    settings.MOLEXP_WORKFLOW_DIRS = [str(tmp_path)]
    return tmp_path


@pytest.fixture
def newbie(db):
    return f.UserFactory(username="newbie")


# (id, method, url template, body template, expected statuses by role)
CASES = [
    ("workspace-list", "get", "/api/workspaces/", None, _expect(200, 200, 200, 200)),
    ("workspace-create", "post", "/api/workspaces/", {"name": "New lab"}, _expect(201, 201, 201, 201)),
    ("workspace-detail", "get", "/api/workspaces/{ws}/", None, _expect(200, 200, 200, 404)),
    ("member-list", "get", "/api/workspaces/{ws}/members/", None, _expect(200, 200, 200, 404)),
    (
        # Changed with issue 12 (intentionally): a non-member is invited (202), not added (201).
        "member-set",
        "post",
        "/api/workspaces/{ws}/members/",
        {"username": "newbie", "role": "editor"},
        _expect(202, 403, 403, 404),
    ),
    (
        "member-role",
        "post",
        "/api/workspaces/{ws}/members/",
        {"username": "viewer", "role": "editor"},
        _expect(201, 403, 403, 404),
    ),
    ("invitation-list", "get", "/api/workspaces/{ws}/invitations/", None, _expect(200, 200, 200, 404)),
    ("member-remove", "delete", "/api/workspaces/{ws}/members/viewer/", None, _expect(204, 403, 403, 404)),
    ("project-list", "get", "/api/projects/", None, _expect(200, 200, 200, 200)),
    ("project-list-filtered", "get", "/api/projects/?workspace={ws}", None, _expect(200, 200, 200, 200)),
    ("project-detail", "get", "/api/projects/{project}/", None, _expect(200, 200, 200, 404)),
    (
        "project-create",
        "post",
        "/api/projects/",
        {"workspace": "{ws}", "name": "New project"},
        _expect(201, 201, 403, 400),
    ),
    ("experiment-list", "get", "/api/experiments/", None, _expect(200, 200, 200, 200)),
    ("experiment-list-filtered", "get", "/api/experiments/?project={project}", None, _expect(200, 200, 200, 200)),
    ("experiment-detail", "get", "/api/experiments/{experiment}/", None, _expect(200, 200, 200, 404)),
    (
        "experiment-create",
        "post",
        "/api/experiments/",
        {"project": "{project}", "name": "New experiment", "workflow_source": "flow.py"},
        _expect(201, 201, 403, 400),
    ),
    ("run-list", "get", "/api/runs/", None, _expect(200, 200, 200, 200)),
    ("run-list-filtered", "get", "/api/runs/?experiment={experiment}", None, _expect(200, 200, 200, 200)),
    ("run-detail", "get", "/api/runs/{run}/", None, _expect(200, 200, 200, 404)),
    ("run-history", "get", "/api/runs/{run}/history/", None, _expect(200, 200, 200, 404)),
]


def _fill(template, ids):
    if isinstance(template, str):
        filled = template.format(**ids)
        return int(filled) if template.startswith("{") and filled.isdigit() else filled
    if isinstance(template, dict):
        return {key: _fill(value, ids) for key, value in template.items()}
    return template


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("case", "method", "url", "body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_endpoint_answers_each_role(
    api_client_for, role, case, method, url, body, expected, ws, project, experiment, run, workflow_dir, newbie
):
    ids = {"ws": ws.pk, "project": project.pk, "experiment": experiment.pk, "run": run.pk}
    client = api_client_for(role)
    kwargs = {"format": "json"} if body is not None else {}
    response = getattr(client, method)(_fill(url, ids), _fill(body, ids), **kwargs)
    assert response.status_code == expected[role], response.content
    if response.status_code >= 400:
        assert "detail" in response.json()


@pytest.mark.parametrize("role", ("owner", "editor", "viewer"))
@pytest.mark.parametrize(
    "url",
    ["/api/workspaces/", "/api/projects/", "/api/experiments/", "/api/runs/"],
)
def test_outsider_sees_nothing_of_foreign_workspace_in_lists(api_client_for, role, url, run, other_ws):
    """Members see their rows; the outsider's lists and counts leave ``ws`` out."""
    member = api_client_for(role).get(url).json()
    outsider = api_client_for("outsider").get(url).json()
    assert member["count"] >= 1
    if url == "/api/workspaces/":
        assert [w["slug"] for w in outsider["results"]] == ["elsewhere"]
        assert outsider["count"] == 1
    else:
        assert outsider["count"] == 0
        assert outsider["results"] == []


def test_staff_sees_every_workspace_and_its_rows(staff, run, other_ws):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff)
    slugs = {w["slug"] for w in client.get("/api/workspaces/").json()["results"]}
    assert slugs == {"lab", "elsewhere"}
    assert client.get(f"/api/runs/{run.pk}/").status_code == 200
    assert client.get("/api/runs/").json()["count"] == 1


def test_anonymous_gets_401_with_token_challenge(client, ws):
    response = client.get("/api/workspaces/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert response.json() == {"detail": "Authentication credentials were not provided."}
