"""Git state through GitPython, restricted to the workflow's root (SPEC §12, issue 12 finding 4):
untracked files recorded, a workflow file in no commit shown as untracked, one git status per launch."""

from __future__ import annotations

import subprocess

import pytest

from runs_app.gitstate import git_capture
from runs_app.services import experiment_create, run_launch

from .workflow_fixtures import MOLCFG, WORKFLOW

pytestmark = pytest.mark.django_db

IDENT = ["-c", "user.name=t", "-c", "user.email=t@example.org"]


def _git(folder, *args):
    subprocess.run(["git", *IDENT, *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


@pytest.fixture
def repo(tmp_path, settings, workflow_dir):
    """A repository holding a server folder (with a .env) and the workflow root ``workflows/``."""
    top = tmp_path / "repo"
    (top / "server").mkdir(parents=True)
    (top / "server" / ".env").write_text("DATABASE_PASSWORD=old\n")
    (top / "server" / "settings.py").write_text("DEBUG = False\n")
    root = top / "workflows"
    root.mkdir()
    (root / "chem.py").write_text(WORKFLOW)
    (root / "molcfg.yaml").write_text(MOLCFG)
    _git(top, "init", "-q", "-b", "main")
    _git(top, "add", ".")
    _git(top, "commit", "-q", "-m", "first")
    settings.MOLEXP_WORKFLOW_DIRS = [str(root)]
    return top


def test_a_change_outside_the_workflow_root_is_never_recorded(repo, project, editor):
    (repo / "server" / ".env").write_text("DATABASE_PASSWORD=hunter2\n")
    (repo / "server" / "settings.py").write_text("DEBUG = True\n")
    (repo / "server" / "new_secret.txt").write_text("s3cr3t\n")
    experiment = experiment_create(user=editor, project=project, name="Chem", workflow_source="chem.py")
    assert experiment.git_dirty is False and experiment.git_diff == "" and experiment.git_untracked == []
    [run] = run_launch(user=editor, experiment=experiment)
    snap = run.workflow_snapshot
    assert snap["git_dirty"] is False and snap["git_diff"] == "" and snap["git_untracked"] == []
    assert "hunter2" not in str(snap) and "new_secret" not in str(snap)

    chem = repo / "workflows" / "chem.py"
    chem.write_text(chem.read_text() + "\n# tuned\n")
    [run] = run_launch(user=editor, experiment=experiment)
    diff = run.workflow_snapshot["git_diff"]
    assert run.workflow_snapshot["git_dirty"] is True and "+# tuned" in diff
    assert "hunter2" not in diff and ".env" not in diff and "settings.py" not in diff
    assert run.workflow_snapshot["git_workflow_state"] == "modified"


def test_a_workflow_file_in_no_commit_is_untracked_never_clean(repo, project, editor, web_client_for, api_client_for):
    root = repo / "workflows"
    (root / "fresh.py").write_text(WORKFLOW)
    (root / "helper_new.py").write_text("X = 1\n")
    experiment = experiment_create(user=editor, project=project, name="Fresh", workflow_source="fresh.py")
    assert experiment.git_workflow_state == "untracked" and experiment.git_dirty is False
    assert experiment.git_untracked == ["fresh.py", "helper_new.py"]

    page = web_client_for("viewer").get(experiment.get_absolute_url()).content.decode()
    state = page.split('id="experiment-git-state"', 1)[1].split("</dd>", 1)[0]
    assert "untracked" in state and ">clean<" not in state and "helper_new.py" in state
    api = api_client_for("viewer").get(f"/api/experiments/{experiment.pk}/").json()
    assert api["git_workflow_state"] == "untracked" and api["git_untracked"] == ["fresh.py", "helper_new.py"]

    [run] = run_launch(user=editor, experiment=experiment)
    assert run.workflow_snapshot["git_workflow_state"] == "untracked"
    assert run.workflow_snapshot["git_untracked"] == ["fresh.py", "helper_new.py"]
    page = web_client_for("viewer").get(run.get_absolute_url()).content.decode()
    state = page.split('id="snapshot-git-state"', 1)[1].split("</dd>", 1)[0]
    assert "untracked" in state and ">clean<" not in state
    how_to = web_client_for("viewer").get(f"/runs/{run.pk}/how-to/").content.decode()
    assert "git-untracked" in how_to and "git checkout" not in how_to
    api = api_client_for("viewer").get(f"/api/runs/{run.pk}/").json()
    assert api["workflow_snapshot"]["git_workflow_state"] == "untracked"

    # staged but not committed is still in no commit; committed is clean
    _git(repo, "add", "workflows/fresh.py")
    assert git_capture(root / "fresh.py", root=root).workflow_state == "untracked"
    _git(repo, "commit", "-q", "-m", "fresh")
    state = git_capture(root / "fresh.py", root=root)
    assert state.workflow_state == "committed" and state.untracked == ["helper_new.py"]


def test_a_git_ignored_workflow_file_is_untracked(repo):
    root = repo / "workflows"
    (root / ".gitignore").write_text("local_*.py\n")
    (root / "local_flow.py").write_text(WORKFLOW)
    assert git_capture(root / "local_flow.py", root=root).workflow_state == "untracked"


def test_one_git_process_on_a_clean_tree_two_when_dirty(repo, monkeypatch):
    root = repo / "workflows"
    calls = []
    real = subprocess.Popen.__init__

    def counting(self, args, *a, **kw):
        if args and "git" in str(args[0]):
            calls.append(list(args))
        real(self, args, *a, **kw)

    git_capture(root / "chem.py", root=root)  # GitPython's one-time check of the git binary
    monkeypatch.setattr(subprocess.Popen, "__init__", counting)
    assert git_capture(root / "chem.py", root=root).dirty is False
    assert len(calls) == 1 and "status" in calls[0] and calls[0][-2:] == ["--", "workflows"]
    (root / "chem.py").write_text(WORKFLOW + "\n# edit\n")
    calls.clear()
    assert git_capture(root / "chem.py", root=root).dirty is True
    assert [c[c.index("status") if "status" in c else c.index("diff")] for c in calls] == ["status", "diff"]
