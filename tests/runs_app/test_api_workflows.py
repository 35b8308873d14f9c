"""GET /api/workflows/: the workflow files the server discovered, with tasks and profiles, for any signed-in user."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _files(client):
    response = client.get("/api/workflows/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    return {entry["workflow_source"]: entry for entry in body["results"]}


def test_lists_workflows_tasks_and_profiles(api_client_for, users, workflow_dir):
    files = _files(api_client_for("viewer"))
    assert list(files) == ["chem.py"]
    chem = files["chem.py"]
    assert set(chem) == {"workflow_source", "workflows", "profiles", "defaults", "error"}
    assert chem["error"] == ""
    assert chem["profiles"] == ["broken", "default", "quick_test"]  # names normalized: - → _
    assert chem["defaults"] == {"scale": 1.0, "optimizer": {"lr": 0.001}}
    [workflow] = chem["workflows"]
    assert workflow["name"] == "chem" and len(workflow["topology_hash"]) == 64
    assert workflow["order"] == ["load", "featurize", "summarize"]
    tasks = {task["name"]: task for task in workflow["tasks"]}
    assert tasks["featurize"]["depends_on"] == ["load"]
    params = {p["name"]: p for p in tasks["featurize"]["parameters"]}
    assert params["load"] == {"name": "load", "required": True}
    assert params["scale"] == {"name": "scale", "required": False, "default": 1.0}


def test_broken_files_are_listed_with_their_error(api_client_for, users, workflow_dir):
    (workflow_dir / "cyclic.py").write_text(
        "from runs_app.workflow import Workflow\n"
        "workflow = Workflow('cyclic')\n"
        "@workflow.task(depends_on=['b'])\ndef a(ctx, b): pass\n"
        "@workflow.task(depends_on=['a'])\ndef b(ctx, a): pass\n"
    )
    (workflow_dir / "sub").mkdir()
    (workflow_dir / "sub" / "flow.py").write_text(
        "from runs_app.workflow import Workflow\nworkflow = Workflow('f')\n@workflow.task\ndef t(ctx): pass\n"
    )
    (workflow_dir / "sub" / "molcfg.yaml").write_text("version: 1\nprofiles: [unclosed\n")
    files = _files(api_client_for("editor"))
    assert set(files) == {"chem.py", "cyclic.py", "sub/flow.py"}
    assert "a" in files["cyclic.py"]["error"] and "b" in files["cyclic.py"]["error"]
    assert "molcfg" in files["sub/flow.py"]["error"] and files["sub/flow.py"]["profiles"] == []
    assert files["sub/flow.py"]["workflows"][0]["order"] == ["t"]
    assert files["chem.py"]["error"] == ""


def test_no_server_paths_are_exposed(api_client_for, users, workflow_dir):
    assert str(workflow_dir) not in api_client_for("viewer").get("/api/workflows/").content.decode()


def test_empty_when_no_workflow_directory(api_client_for, users, settings, tmp_path):
    settings.MOLEXP_WORKFLOW_DIRS = [str(tmp_path / "missing")]
    assert _files(api_client_for("owner")) == {}


@pytest.mark.parametrize(
    ("role", "expected"),
    [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 200), ("anonymous", 401)],
)
def test_role_matrix(api_client_for, users, workflow_dir, role, expected):
    response = api_client_for(role).get("/api/workflows/")
    assert response.status_code == expected
    if expected == 401:
        assert response.json()["detail"]


def test_post_is_405(api_client_for, users, workflow_dir):
    assert api_client_for("owner").post("/api/workflows/", {}, format="json").status_code == 405
