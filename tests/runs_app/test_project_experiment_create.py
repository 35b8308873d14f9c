"""Projects and experiments: editors create, viewers cannot, workflow paths stay inside their directory."""

import subprocess

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from runs_app.models import Experiment, Project
from runs_app.services import experiment_create, project_create


@pytest.fixture
def workflow_dir(tmp_path, settings):
    wf = tmp_path / "workflows"
    wf.mkdir()
    (wf / "featurize.py").write_text("from runs_app.workflow import Workflow\nworkflow = Workflow('f')\n")
    (wf / "sub").mkdir()
    (wf / "sub" / "deep.py").write_text("x = 1\n")
    (tmp_path / "secret.py").write_text("outside = True\n")
    (wf / "escape.py").symlink_to(tmp_path / "secret.py")
    settings.MOLEXP_WORKFLOW_DIRS = [str(wf)]
    return wf


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["owner", "editor"])
def test_editors_and_owners_create_projects(ws, users, role):
    project = project_create(user=users[role], workspace=ws, name="MD runs")
    assert project.slug == "md-runs" and project.workspace == ws


@pytest.mark.django_db
def test_viewer_cannot_create_project(ws, viewer):
    with pytest.raises(PermissionDenied):
        project_create(user=viewer, workspace=ws, name="Nope")
    assert not Project.objects.exists()


@pytest.mark.django_db
def test_outsider_gets_not_found(ws, outsider):
    with pytest.raises(Http404):
        project_create(user=outsider, workspace=ws, name="Nope")


@pytest.mark.django_db
def test_project_slug_is_unique_per_workspace_only(ws, other_ws, owner, outsider):
    project_create(user=owner, workspace=ws, name="QM9")
    project_create(user=outsider, workspace=other_ws, name="QM9")
    with pytest.raises(ValidationError):
        project_create(user=owner, workspace=ws, name="Other", slug="qm9")


@pytest.mark.django_db
def test_experiment_outside_git_records_no_repository(project, editor, workflow_dir):
    experiment = experiment_create(user=editor, project=project, name="Base", workflow_source="featurize.py")
    assert experiment.workspace_id == project.workspace_id
    assert (experiment.git_commit, experiment.git_branch, experiment.git_dirty) == ("", "", None)


@pytest.mark.django_db
def test_experiment_captures_git_state(project, editor, workflow_dir):
    def git(*args):
        subprocess.run(["git", *args], cwd=workflow_dir, check=True, capture_output=True)

    git("init", "-b", "main")
    git("-c", "user.email=a@b", "-c", "user.name=a", "add", ".")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-m", "init")
    (workflow_dir / "featurize.py").write_text("changed = True\n")
    experiment = experiment_create(user=editor, project=project, name="Base", workflow_source="featurize.py")
    assert len(experiment.git_commit) == 40
    assert experiment.git_branch == "main"
    assert experiment.git_dirty is True
    assert "+changed = True" in experiment.git_diff


@pytest.mark.django_db
def test_nested_workflow_path_is_accepted(project, editor, workflow_dir):
    experiment = experiment_create(user=editor, project=project, name="Deep", workflow_source="sub/deep.py")
    assert experiment.workflow_source == "sub/deep.py"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "source",
    ["../secret.py", "/etc/passwd", "missing.py", "escape.py", "sub/../../secret.py", "featurize.txt", "", "a\x00.py"],
)
def test_unsafe_or_unknown_workflow_paths_are_refused(project, editor, workflow_dir, source):
    with pytest.raises(ValidationError) as err:
        experiment_create(user=editor, project=project, name="Bad", workflow_source=source)
    assert "workflow_source" in err.value.message_dict
    assert not Experiment.objects.exists()


@pytest.mark.django_db
def test_viewer_cannot_create_experiment(project, viewer, workflow_dir):
    with pytest.raises(PermissionDenied):
        experiment_create(user=viewer, project=project, name="X", workflow_source="featurize.py")
