"""Only server workflow code runs (SPEC §12; issue 12 finding 6): what the resolver, inspector and imports refuse.

Private files (``_name.py``), dot files, files in hidden or private folders, symlinks
that lead to one or out of the folder, and files inside folders of uploaded or
run-written bytes are never resolved, listed or inspected; their top-level code
(which would write a marker) never runs, not even in the launch preview.
"""

from __future__ import annotations

import os

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from runs_app.models import Experiment
from runs_app.selectors import workflow_file_list
from runs_app.services import experiment_create, workflow_inspect, workflow_resolve

from .workflow_fixtures import MOLCFG, WORKFLOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "private-code-ran.txt"


@pytest.fixture
def wf(tmp_path, settings, marker):
    root = tmp_path / "workflows"
    (root / ".hidden").mkdir(parents=True)
    (root / "_private").mkdir()
    (root / "public").mkdir()
    evil = f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n" + WORKFLOW
    (root / "chem.py").write_text(WORKFLOW)
    (root / "molcfg.yaml").write_text(MOLCFG)
    for name in ("_helper.py", ".dotfile.py", ".hidden/wf.py", "_private/wf.py", "__init__.py"):
        (root / name).write_text(evil)
    (root / "public" / "alias.py").symlink_to(root / "_helper.py")
    outside = tmp_path / "outside.py"
    outside.write_text(evil)
    (root / "escape.py").symlink_to(outside)
    settings.MOLEXP_WORKFLOW_DIRS = [str(root)]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.MOLEXP_WORK_DIR = tmp_path / "work"
    return root


REFUSED = ["_helper.py", ".dotfile.py", ".hidden/wf.py", "_private/wf.py", "__init__.py", "public/alias.py",
           "escape.py", "./_helper.py", "public/../_helper.py"]  # fmt: skip


@pytest.mark.parametrize("name", REFUSED)
def test_resolver_refuses_what_discovery_hides(wf, name, marker):
    with pytest.raises(ValidationError):
        workflow_resolve(name)
    assert not marker.exists()


def test_discovery_lists_only_public_files(wf):
    assert workflow_file_list() == ["chem.py"]
    assert workflow_resolve("chem.py") == (wf / "chem.py").resolve()


@pytest.mark.parametrize("name", ["_helper.py", ".hidden/wf.py", "public/alias.py"])
def test_experiment_create_refuses_a_private_file(wf, project, editor, name):
    with pytest.raises(ValidationError, match="hidden or private"):
        experiment_create(user=editor, project=project, name="Sneaky", workflow_source=name)
    assert not Experiment.objects.filter(name="Sneaky").exists()


def test_inspector_refuses_any_path_that_is_not_a_server_workflow(wf, marker, tmp_path):
    for path in (wf / "_helper.py", wf / ".hidden" / "wf.py", wf / "public" / "alias.py", tmp_path / "outside.py"):
        assert "not a workflow file" in workflow_inspect(path=path)["error"]
    assert not marker.exists()
    assert workflow_inspect(path=wf / "chem.py")["workflows"][0]["name"] == "chem"


@pytest.mark.parametrize("name", ["_helper.py", ".hidden/wf.py"])
def test_launch_preview_of_an_experiment_naming_a_private_file_runs_nothing(wf, project, name, marker,
                                                                            web_client_for):  # fmt: skip
    """A row written before the resolver refused private files: every role's preview shows an error."""
    experiment = Experiment.objects.create(project=project, workspace=project.workspace, name="Old", slug="old",
                                           workflow_source=name)  # fmt: skip
    base = f"/w/{project.workspace.slug}/p/{project.slug}/e/{experiment.slug}/"
    for role in ("owner", "editor"):
        client = web_client_for(role)
        page = client.get(base + "launch/")
        assert "hidden or private" in page.content.decode()
        preview = client.post(base + "launch/preview/", {"profile": ""})
        assert "hidden or private" in preview.content.decode()
    for role in ("viewer", "editor"):
        assert web_client_for(role).get(base).status_code == 200
    assert not marker.exists()


def test_files_inside_data_folders_are_never_workflows(tmp_path, settings, project, editor):
    """A workflow folder that overlaps MEDIA_ROOT: uploaded bytes there are neither listed nor resolved."""
    media = tmp_path / "media"
    (media / "uploads").mkdir(parents=True)
    (media / "uploads" / "dropped.py").write_text(WORKFLOW)
    settings.MEDIA_ROOT = str(media)
    settings.MOLEXP_WORKFLOW_DIRS = [str(media)]
    assert workflow_file_list() == []
    with pytest.raises(ValidationError, match="uploaded or run-written"):
        workflow_resolve("uploads/dropped.py")
    with pytest.raises(SystemCheckError, match="molexp.E001"):
        call_command("check")


def test_system_check_passes_when_folders_are_apart(wf):
    call_command("check")


def test_import_from_a_workflow_folder_is_refused(wf, settings, tmp_path):
    from assets_app.services.libraries import import_source_resolve

    settings.MOLEXP_IMPORT_ROOTS = [str(tmp_path.parent)]
    for source in (wf / "chem.py", wf, tmp_path):
        with pytest.raises(ValidationError, match="workflow directory"):
            import_source_resolve(os.fspath(source))
