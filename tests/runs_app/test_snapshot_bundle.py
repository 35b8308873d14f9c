"""The code snapshot is the workflow's source tree (SPEC §12): collected, stored once per content,
executed from the materialised bundle only, diffed file by file, exported in the crate."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import zipfile

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from assets_app import storage
from runs_app import snapshot as code_snapshot
from runs_app.choices import RunStatus
from runs_app.crate import crate_export, crate_import
from runs_app.fingerprint import run_fingerprint
from runs_app.models import Execution, Run
from runs_app.selectors import run_compare, run_source_diff
from runs_app.services import execution_run, experiment_create, run_clone, run_launch, run_reproduce

from .snapshot_fixtures import write_helper, write_tree

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """These tests call the worker's body in this process; the broker is the outside world here."""
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


@pytest.fixture
def tree(workflow_dir):
    """The workflow root (``workflow_dir``) holding a workflow that imports ``helper`` and ``pkg.deep``."""
    write_tree(workflow_dir)
    return workflow_dir


@pytest.fixture
def helped(tree, project, editor):
    return experiment_create(user=editor, project=project, name="Helped", workflow_source="helped.py")


def _execute(run: Run) -> Run:
    execution = Execution.objects.filter(run=run).order_by("-number").first()
    assert execution_run(execution_id=execution.pk) in ("succeeded", "failed")
    return Run.objects.get(pk=run.pk)


def _code_files() -> list[str]:
    root = os.path.join(settings.MEDIA_ROOT, "code")
    return sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files if not f.startswith("."))


# --- what the bundle holds ------------------------------------------------------------------


def test_bundle_holds_the_source_tree_and_leaves_out_hidden_cache_git_and_ignored(tree, helped, editor):
    (tree / "sub").mkdir()
    (tree / "sub" / "other_flow.py").write_text("x = 1\n")
    (tree / ".hidden").mkdir()
    (tree / ".hidden" / "secret.py").write_text("TOKEN = 1\n")
    (tree / "__pycache__").mkdir()
    (tree / "__pycache__" / "helper.cpython-311.py").write_text("junk\n")
    (tree / ".git").mkdir()
    (tree / ".git" / "hook.py").write_text("junk\n")
    (tree / "scratch").mkdir()
    (tree / "scratch" / "tmp.py").write_text("junk\n")
    (tree / "notes_draft.py").write_text("junk\n")
    (tree / "data.csv").write_text("a,b\n1,2\n")
    (tree / "README.txt").write_text("not included\n")
    (tree / ".molexpignore").write_text("# comments and blanks are skipped\n\nscratch/\n*_draft.py\n")
    (tree / "molcfg.yaml").write_text((tree / "molcfg.yaml").read_text() + "snapshot:\n  include: ['*.csv']\n")

    [run] = run_launch(user=editor, experiment=helped)
    files = run.workflow_snapshot["files"]
    assert sorted(files) == [
        "chem.py", "data.csv", "helped.py", "helper.py", "molcfg.yaml", "pkg/__init__.py", "pkg/deep.py", "sub/other_flow.py",
    ]  # fmt: skip
    for rel, entry in files.items():
        data = (tree / rel).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    canonical = json.dumps(files, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert run.workflow_snapshot["snapshot_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert run.workflow_snapshot["source_sha256"] == files["helped.py"]["sha256"]
    assert run.fingerprint == run_fingerprint(
        snapshot_hash=run.workflow_snapshot["snapshot_hash"], workflow_name="helped",
        config_hash=run.config_hash, params={},
    )  # fmt: skip


def test_links_leaving_the_workflow_folder_are_not_followed(tree, helped, editor, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("TOKEN = 'server secret'\n")
    (outside / "passwords.txt").write_text("hunter2\n")
    (tree / "linked_dir").symlink_to(outside, target_is_directory=True)
    (tree / "linked_file.py").symlink_to(outside / "secret.py")
    (tree / "molcfg.yaml").write_text((tree / "molcfg.yaml").read_text() + "snapshot:\n  include: ['linked_dir/*']\n")
    [run] = run_launch(user=editor, experiment=helped)
    assert not any(p.startswith("linked") for p in run.workflow_snapshot["files"])


def test_an_include_glob_leaving_the_folder_is_refused(tree, helped, editor):
    (tree / "molcfg.yaml").write_text((tree / "molcfg.yaml").read_text() + "snapshot:\n  include: ['../*']\n")
    with pytest.raises(ValidationError, match="must stay inside"):
        run_launch(user=editor, experiment=helped)
    assert not Run.objects.exists()


def test_a_snapshot_above_the_limit_is_refused_naming_the_biggest_files(tree, helped, editor, settings):
    settings.MOLEXP_SNAPSHOT_MAX_BYTES = 5_000
    (tree / "big_model.py").write_text("# " + "x" * 6_000 + "\n")
    (tree / "medium.py").write_text("# " + "y" * 1_000 + "\n")
    with pytest.raises(ValidationError) as caught:
        run_launch(user=editor, experiment=helped)
    message = str(caught.value)
    assert "MOLEXP_SNAPSHOT_MAX_BYTES" in message and "big_model.py (6,003 bytes)" in message
    assert message.index("big_model.py") < message.index("medium.py")
    assert not Run.objects.exists() and not _code_files()


def test_a_sweep_shares_one_snapshot_and_unchanged_files_are_stored_once(tree, helped, editor, monkeypatch):
    runs = run_launch(user=editor, experiment=helped, sweep={"x": [1, 2, 3, 4]})
    hashes = {r.workflow_snapshot["snapshot_hash"] for r in runs}
    assert len(hashes) == 1 and len({r.fingerprint for r in runs}) == 4
    stored = _code_files()
    assert len(stored) == len(runs[0].workflow_snapshot["files"])  # one object per distinct content

    writes = []
    monkeypatch.setattr(storage, "put_bytes", lambda name, data, **kw: writes.append(name))
    run_launch(user=editor, experiment=helped, sweep={"x": [5, 6]})
    assert writes == []  # nothing changed: nothing written again
    write_helper(tree, "new")
    run_launch(user=editor, experiment=helped)
    assert writes == [storage.code_blob_name(hashlib.sha256(b"VALUE = 'new'\n").hexdigest())]


# --- the worker runs the bundle, never the live tree -----------------------------------------


def test_edit_after_launch_clone_runs_old_helper_new_launch_runs_new_one(helped, tree, editor):
    [first] = run_launch(user=editor, experiment=helped)
    write_helper(tree, "new")  # edited on disk while the run is queued
    (tree / "pkg" / "deep.py").write_text("FACTOR = 3\n")
    first = _execute(first)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert first.results["helper"] == "old" and first.results["factor"] == 2
    bundle_dir = str(code_snapshot.bundles_dir() / first.workflow_snapshot["snapshot_hash"])
    assert first.results["helper_file"].startswith(bundle_dir)

    [fresh] = run_launch(user=editor, experiment=helped)
    fresh = _execute(fresh)
    assert fresh.results["helper"] == "new" and fresh.results["factor"] == 3  # same process, no stale module

    first.status = RunStatus.SUCCEEDED
    clone = _execute(run_clone(user=editor, run=first))
    assert clone.results["helper"] == "old" and clone.results["factor"] == 2
    assert clone.workflow_snapshot["snapshot_hash"] == first.workflow_snapshot["snapshot_hash"]
    assert clone.fingerprint == first.fingerprint
    assert fresh.workflow_snapshot["snapshot_hash"] != first.workflow_snapshot["snapshot_hash"]
    assert fresh.fingerprint != first.fingerprint
    assert fresh.workflow_snapshot["source_sha256"] == first.workflow_snapshot["source_sha256"]

    copy = _execute(run_reproduce(user=editor, run=first))
    code = copy.verdict["code"]
    assert code["identical"] is True and code["changed"] == []
    assert code["summary"].startswith("executed code identical file by file (6 files")
    assert copy.verdict["reproduced"] is True, copy.verdict["summary"]
    # nothing of a bundle stays importable after a run
    assert not any(bundle_dir in p for p in sys.path) and "helper" not in sys.modules


def test_a_bundle_whose_stored_bytes_were_altered_is_not_executed(helped, editor):
    [run] = run_launch(user=editor, experiment=helped)
    sha = run.workflow_snapshot["files"]["helper.py"]["sha256"]
    storage.put_bytes(storage.code_blob_name(sha), b"VALUE = 'tampered'\n")
    run = _execute(run)
    assert run.status == RunStatus.FAILED
    assert "cannot be materialised" in run.error["message"] and "do not match" in run.error["message"]


# --- diffs, verdict and crate cover every file ---------------------------------------------------


def test_source_now_diff_covers_every_file_of_the_bundle(helped, tree, editor):
    [run] = run_launch(user=editor, experiment=helped)
    assert run_source_diff(run=run)["status"] == "identical"
    write_helper(tree, "new")
    (tree / "added.py").write_text("NEW = 1\n")
    (tree / "pkg" / "deep.py").unlink()
    diff = run_source_diff(run=run)
    statuses = {f["path"]: f["status"] for f in diff["files"]}
    assert statuses["helper.py"] == "changed" and statuses["added.py"] == "added"
    assert statuses["pkg/deep.py"] == "removed" and statuses["helped.py"] == "identical"
    assert diff["status"] == "changed"
    assert "--- helper.py (run snapshot)" in diff["diff"] and "+VALUE = 'new'" in diff["diff"]
    assert "-FACTOR = 2" in diff["diff"] and "+NEW = 1" in diff["diff"]


def test_run_comparison_diffs_every_file(helped, tree, editor, owner):
    [a] = run_launch(user=editor, experiment=helped)
    write_helper(tree, "new")
    [b] = run_launch(user=editor, experiment=helped)
    [code] = run_compare(user=owner, run_ids=[a.pk, b.pk])["code"]
    assert code["status"] == "changed"
    assert {f["path"]: f["status"] for f in code["files"]}["helper.py"] == "changed"
    assert "-VALUE = 'old'" in code["diff"] and "+VALUE = 'new'" in code["diff"]
    [clone_code] = run_compare(user=owner, run_ids=[a.pk, run_clone(user=editor, run=a).pk])["code"]
    assert clone_code["status"] == "identical" and clone_code["diff"] == ""


def test_crate_export_carries_the_bundle_files(helped, editor, outsider, other_ws):
    [run] = run_launch(user=editor, experiment=helped)
    run = _execute(run)
    out = io.BytesIO()
    crate_export(user=editor, run=run, out=out)
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        record = json.loads(zf.read("molexp/run.json"))
        metadata = json.loads(zf.read("ro-crate-metadata.json"))
        assert zf.read("workflow/helper.py") == b"VALUE = 'old'\n"
        assert zf.read("workflow/pkg/deep.py") == b"FACTOR = 2\n"
    assert {"workflow/helped.py", "workflow/helper.py", "workflow/pkg/__init__.py", "workflow/pkg/deep.py"} <= names
    assert record["bundle"]["snapshot_hash"] == run.workflow_snapshot["snapshot_hash"]
    assert record["bundle"]["files"]["helper.py"] == "workflow/helper.py"
    ids = {e["@id"]: e for e in metadata["@graph"]}
    sha = run.workflow_snapshot["files"]["helper.py"]["sha256"]
    assert ids["workflow/helper.py"]["sha256"] == sha
    assert {"@id": "workflow/pkg/__init__.py"} in ids["./"]["hasPart"]

    # The import keeps the files as inert bytes (another server: the code store does not have them).
    for name in _code_files():
        os.unlink(name)
    imported = crate_import(user=outsider, workspace=other_ws, fileobj=io.BytesIO(out.getvalue())).run
    assert imported.workflow_snapshot["files"] == run.workflow_snapshot["files"]
    assert code_snapshot.bundle_file_read(sha) == b"VALUE = 'old'\n"


def test_an_older_one_file_snapshot_runs_alone_never_from_the_live_tree(helped, chem_experiment, editor):
    """Runs recorded before bundles: the workflow file alone, with no folder to import helpers from."""
    [chem] = run_launch(user=editor, experiment=chem_experiment)
    [legacy] = run_launch(user=editor, experiment=helped)
    for run in (chem, legacy):
        snapshot = {k: v for k, v in run.workflow_snapshot.items() if k not in ("files", "snapshot_hash")}
        Run.objects.filter(pk=run.pk).update(workflow_snapshot=snapshot)
    assert _execute(chem).status == RunStatus.SUCCEEDED
    legacy = _execute(legacy)
    assert legacy.status == RunStatus.FAILED  # helper.py sits in the live folder, but is not importable
    assert "No module named 'helper'" in legacy.error["message"]


def test_an_edit_keeping_size_and_timestamp_is_still_seen(helped, tree, editor):
    """A file edited within the file system's timestamp granularity, size unchanged ("racy git")."""
    helper = tree / "helper.py"
    stamp = helper.stat().st_mtime_ns
    [first] = run_launch(user=editor, experiment=helped)
    write_helper(tree, "new")  # same length as "old"
    os.utime(helper, ns=(stamp, stamp))
    [second] = run_launch(user=editor, experiment=helped)
    assert second.workflow_snapshot["files"]["helper.py"] != first.workflow_snapshot["files"]["helper.py"]
