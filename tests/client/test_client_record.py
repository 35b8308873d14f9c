"""The client records a script's folder exactly as the server records a workflow's (SPEC §12/§13).

The client cannot import the server, so it carries the same selection rules, manifest
hash and git algorithm; these tests hold it to the server's own functions on the same tree.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from molexp._record import git_state, snapshot_bundle

from runs_app import snapshot as code_snapshot
from runs_app.gitstate import git_capture

IDENT = ["-c", "user.name=t", "-c", "user.email=t@example.org"]


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", *IDENT, *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "proj"
    (root / "pkg" / "deep").mkdir(parents=True)
    (root / "train.py").write_text("import helpers\n")
    (root / "helpers.py").write_text("X = 1\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "deep" / "mod.py").write_text("Y = 2\n")
    (root / "molcfg.yaml").write_text("profiles: {}\nsnapshot:\n  include: ['data/*.csv', 'notes.txt']\n")
    (root / "data").mkdir()
    (root / "data" / "a.csv").write_text("x\n1\n")
    (root / "data" / "big.bin").write_bytes(b"\0" * 100)
    (root / "notes.txt").write_text("notes\n")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.py").write_text("S = 1\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "c.py").write_text("")
    (root / "scratch").mkdir()
    (root / "scratch" / "tmp.py").write_text("")
    (root / "skip_me.py").write_text("")
    (root / "keep_me.py").write_text("")
    (root / ".molexpignore").write_text("# comment\nscratch/\n*_me.py\n!keep_me.py\n/pkg/deep\n")
    outside = tmp_path / "outside.py"
    outside.write_text("O = 1\n")
    (root / "link.py").symlink_to(outside)  # leaves the folder: not part of its code
    return root


def test_the_client_bundle_is_the_server_bundle(tree, settings):
    settings.MOLEXP_SNAPSHOT_MAX_BYTES = 10_000_000
    sent = snapshot_bundle(tree, tree / "train.py")
    server = code_snapshot.bundle_collect(
        root=tree.resolve(), workflow_rel="train.py", source=(tree / "train.py").read_bytes(),
        include=["data/*.csv", "notes.txt"],
    )  # fmt: skip
    manifest = {path: {"sha256": e["sha256"], "size": e["size"]} for path, e in sent["files"].items()}
    assert manifest == server.manifest
    assert sent["snapshot_hash"] == server.snapshot_hash == code_snapshot.manifest_hash(manifest)
    assert sorted(manifest) == ["data/a.csv", "helpers.py", "keep_me.py", "molcfg.yaml", "notes.txt",
                                "pkg/__init__.py", "train.py"]  # fmt: skip
    assert sent["script"] == "train.py"


def test_the_client_git_state_is_the_server_git_state(tree, tmp_path):
    repo = tmp_path
    (repo / ".env").write_text("SECRET=1\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "proj/train.py", "proj/helpers.py", ".env")
    _git(repo, "commit", "-qm", "one")
    (repo / "proj" / "helpers.py").write_text("X = 2\n")  # modified, tracked
    (repo / ".env").write_text("SECRET=2\n")  # changed outside the folder: never recorded
    client = git_state(tree, tree / "train.py")
    server = git_capture(tree / "train.py", root=tree.resolve()).as_dict()
    assert client == server
    assert client["dirty"] is True and client["workflow_state"] == "committed" and "X = 2" in client["diff"]
    assert "SECRET" not in client["diff"] and "molcfg.yaml" in client["untracked"]
    (tree / "train.py").write_text("import helpers  # edited\n")
    assert git_state(tree, tree / "train.py") == git_capture(tree / "train.py", root=tree.resolve()).as_dict()
    assert git_state(tree, tree / "train.py")["workflow_state"] == "modified"
    new = tree / "new_script.py"
    new.write_text("")
    assert git_state(tree, new)["workflow_state"] == "untracked" == git_capture(new, root=tree.resolve()).workflow_state


def test_a_folder_outside_git_has_the_empty_state(tmp_path):
    (tmp_path / "s.py").write_text("")
    assert git_state(tmp_path, tmp_path / "s.py") == git_capture(tmp_path / "s.py", root=tmp_path).as_dict()
