"""``manage.py seed_demo`` creates the demo once and prints the same credentials every time."""

from __future__ import annotations

import io
import re
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from assets_app.models import DataAsset
from runs_app.choices import Role
from runs_app.models import Experiment, Membership, Project, Workspace

pytestmark = pytest.mark.django_db

CREDENTIALS = re.compile(r"Demo admin: username admin, password (\S+), http://127\.0\.0\.1:(\d+)/")


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_seed_demo_creates_admin_workspace_project_and_experiment(var_dir, monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    output = _seed()

    match = CREDENTIALS.search(output)
    assert match, output
    password, port = match.groups()
    assert port == "8123"
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(password)
    password_file = var_dir / "demo-admin-password"
    assert password_file.read_text().strip() == password
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600

    workspace = Workspace.objects.get(slug="demo")
    assert workspace.name == "Demo lab"
    assert Membership.objects.get(workspace=workspace, user=admin).role == Role.OWNER
    project = Project.objects.get(workspace=workspace, slug="ligands")
    assert project.name == "Ligand screening"
    experiment = Experiment.objects.get(project=project, slug="featurize-baseline")
    assert (experiment.name, experiment.workflow_source) == ("Featurize baseline", "featurize.py")
    dataset = DataAsset.objects.get(workspace=workspace, name="ligands.csv")
    assert dataset.version == 1 and dataset.scope == "workspace" and dataset.size > 0 and len(dataset.sha256) == 64
    assert dataset.read_text().startswith("name,smiles")


def test_seed_demo_twice_changes_nothing_and_prints_same_credentials():
    first = CREDENTIALS.search(_seed()).group(1)
    counts = (
        get_user_model().objects.count(),
        Workspace.objects.count(),
        Project.objects.count(),
        Experiment.objects.count(),
        DataAsset.objects.count(),
    )
    password_hash = get_user_model().objects.get(username="admin").password

    second_output = _seed()

    assert CREDENTIALS.search(second_output).group(1) == first
    assert "Created" not in second_output
    assert counts == (
        get_user_model().objects.count(),
        Workspace.objects.count(),
        Project.objects.count(),
        Experiment.objects.count(),
        DataAsset.objects.count(),
    )
    assert get_user_model().objects.get(username="admin").password == password_hash


def test_seed_demo_resets_password_when_the_kept_file_is_lost(var_dir):
    first = CREDENTIALS.search(_seed()).group(1)
    (var_dir / "demo-admin-password").unlink()

    second = CREDENTIALS.search(_seed()).group(1)

    assert second != first
    assert get_user_model().objects.get(username="admin").check_password(second)


def test_seed_demo_never_puts_back_a_password_someone_changed(var_dir):
    _seed()
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("chosen by the team 42")
    admin.save()
    output = _seed()
    assert get_user_model().objects.get(username="admin").check_password("chosen by the team 42")
    assert "password was changed" in output and not CREDENTIALS.search(output)


def test_seed_demo_skips_the_demo_with_one_line_when_its_workflow_is_not_discoverable(settings, tmp_path):
    own = tmp_path / "ownwf"
    own.mkdir()
    (own / "train.py").write_text("from runs_app.workflow import Workflow\nworkflow = Workflow('train')\n")
    settings.MOLEXP_WORKFLOW_DIRS = [str(own)]

    output = _seed()

    skipped = [line for line in output.splitlines() if "skipped" in line]
    assert skipped == [f"Demo workspace skipped: featurize.py is not in MOLEXP_WORKFLOW_DIRS ({own})."]
    assert CREDENTIALS.search(output)  # the admin is still created and printed
    assert get_user_model().objects.filter(username="admin", is_superuser=True).exists()
    assert not Workspace.objects.exists() and not Experiment.objects.exists()


def test_seed_demo_keeps_an_earlier_demo_when_the_workflow_dirs_change(settings, tmp_path):
    _seed()
    settings.MOLEXP_WORKFLOW_DIRS = [str(tmp_path)]
    output = _seed()
    assert "skipped" not in output and CREDENTIALS.search(output)
    assert Experiment.objects.filter(slug="featurize-baseline").count() == 1
