"""The workspace, project and experiment forms call their services and redirect to the new page."""

from __future__ import annotations

import pytest

from runs_app.choices import Role
from runs_app.models import Experiment, Membership, Project, Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow_dir(settings, tmp_path):
    (tmp_path / "featurize.py").write_text("# a workflow\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "train.py").write_text("# another\n")
    (tmp_path / "notes.txt").write_text("not a workflow\n")
    settings.MOLEXP_WORKFLOW_DIRS = [str(tmp_path)]
    return tmp_path


def test_any_signed_in_user_creates_a_workspace_and_owns_it(web_client_for, outsider):
    response = web_client_for("outsider").post("/w/new/", {"name": "Spectra Lab", "description": "IR"})
    workspace = Workspace.objects.get(slug="spectra-lab")
    assert response["Location"] == "/w/spectra-lab/"
    assert Membership.objects.get(workspace=workspace, user=outsider).role == Role.OWNER


def test_taken_workspace_slug_is_a_form_error(web_client_for, ws):
    response = web_client_for("viewer").post("/w/new/", {"name": "Another", "slug": "lab"})
    assert response.status_code == 200
    assert "already taken" in response.content.decode()


def test_editor_creates_a_project(web_client_for, ws):
    response = web_client_for("editor").post("/w/lab/p/new/", {"name": "Docking", "slug": "dock"})
    assert response["Location"] == "/w/lab/p/dock/"
    assert Project.objects.filter(workspace=ws, slug="dock", name="Docking").exists()


def test_project_without_name_is_a_form_error(web_client_for, ws):
    response = web_client_for("editor").post("/w/lab/p/new/", {"name": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]


def test_experiment_form_offers_the_discovered_workflow_files(web_client_for, project, workflow_dir):
    response = web_client_for("editor").get("/w/lab/p/qm9/e/new/")
    choices = [value for value, _ in response.context["form"].fields["workflow_source"].choices]
    assert choices == ["", "featurize.py", "sub/train.py"]


def test_editor_creates_an_experiment(web_client_for, project, workflow_dir):
    data = {"name": "Sweep", "workflow_source": "sub/train.py", "workflow_name": "train", "description": "lr sweep"}
    response = web_client_for("editor").post("/w/lab/p/qm9/e/new/", data)
    assert response["Location"] == "/w/lab/p/qm9/e/sweep/"
    experiment = Experiment.objects.get(project=project, slug="sweep")
    assert (experiment.workflow_source, experiment.workflow_name) == ("sub/train.py", "train")
    assert experiment.git_dirty is None  # tmp_path is not a git repository


def test_unknown_workflow_file_is_a_form_error(web_client_for, project, workflow_dir):
    response = web_client_for("editor").post("/w/lab/p/qm9/e/new/", {"name": "X", "workflow_source": "../etc.py"})
    assert response.status_code == 200
    assert response.context["form"].errors["workflow_source"]
    assert not Experiment.objects.filter(name="X").exists()


def test_viewer_gets_403_on_experiment_form(web_client_for, project, workflow_dir):
    assert web_client_for("viewer").get("/w/lab/p/qm9/e/new/").status_code == 403


TWO_WORKFLOWS = """
from runs_app.workflow import Workflow

train = Workflow("train")
evaluate = Workflow("evaluate")


@train.task
def fit(ctx):
    return 1


@evaluate.task
def score(ctx):
    return 2
"""


def test_choosing_a_file_offers_its_workflows(web_client_for, project, workflow_dir):
    """SPEC §15: the new-experiment form offers the workflows of the chosen file (htmx fragment)."""
    (workflow_dir / "pair.py").write_text(TWO_WORKFLOWS)
    page = web_client_for("editor").get("/w/lab/p/qm9/e/new/").content.decode()
    assert 'hx-get="/w/lab/p/qm9/e/new/workflows/"' in page and 'list="workflow-name-options"' in page
    response = web_client_for("editor").get("/w/lab/p/qm9/e/new/workflows/?workflow_source=pair.py")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert '<option value="evaluate"></option><option value="train"></option>' in html
    assert 'data-name="train"' in html and 'data-name="evaluate"' in html


def test_a_bad_form_keeps_offering_the_workflows(web_client_for, project, workflow_dir):
    (workflow_dir / "pair.py").write_text(TWO_WORKFLOWS)
    response = web_client_for("editor").post("/w/lab/p/qm9/e/new/", {"name": "", "workflow_source": "pair.py"})
    assert response.status_code == 200 and '<option value="train"></option>' in response.content.decode()


@pytest.mark.parametrize("source", ["../etc/passwd.py", "nope.py", "_private.py", "notes.txt"])
def test_the_offer_refuses_files_discovery_does_not_list(web_client_for, project, workflow_dir, source):
    (workflow_dir / "_private.py").write_text(TWO_WORKFLOWS)
    response = web_client_for("editor").get("/w/lab/p/qm9/e/new/workflows/", {"workflow_source": source})
    assert response.status_code == 400 and "No workflow file" in response.content.decode()
    assert "<option" not in response.content.decode()


@pytest.mark.parametrize(("role", "code"), [("owner", 200), ("editor", 200), ("viewer", 403), ("outsider", 404)])
def test_the_offer_is_membership_checked(web_client_for, users, project, workflow_dir, role, code):
    (workflow_dir / "pair.py").write_text(TWO_WORKFLOWS)
    response = web_client_for(role).get("/w/lab/p/qm9/e/new/workflows/?workflow_source=pair.py")
    assert response.status_code == code
