"""Fewer writes per run without recording less: a launch renews its code files' claim at most every few
seconds, the run-number UPDATE finds the source blob, several transitions share one event INSERT, a task's
first row write is one upsert, a relaxed UPDATE is one statement on PostgreSQL, and git discovery and the
index are read again whenever a stat shows a change."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from assets_app.models import BlobClaim
from assets_app.services import blob_claims
from molexp_site.errors import IllegalTransition
from runs_app import gitstate
from runs_app.choices import ExecutionStatus, RunStatus, TaskStatus
from runs_app.models import Execution, Experiment, Run, RunEvent, SourceBlob, TaskExecution
from runs_app.services import durability, run_launch
from runs_app.services.core import status_transitions
from runs_app.services.execution import _TaskRecorder

NAME = "code/ab/cd/abcd" + "0" * 60


@pytest.fixture(autouse=True)
def _no_remembered_claims():
    """Claims an earlier test committed (then flushed with its database) are not this test's."""
    blob_claims._committed.clear()


def _upserts(queries) -> int:
    return sum(q["sql"].startswith("INSERT") for q in queries)


def _no_broker(monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


# --- claims ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_claim_committed_seconds_ago_is_not_renewed_an_older_one_is(monkeypatch):
    blob_claims.blob_claim(names=[NAME], recent=True)
    first = BlobClaim.objects.get(name=NAME).claimed_at
    with CaptureQueriesContext(connection) as queries:
        blob_claims.blob_claim(names=[NAME], recent=True)
    assert len(queries) == 0 and BlobClaim.objects.get(name=NAME).claimed_at == first
    with CaptureQueriesContext(connection) as queries:
        blob_claims.blob_claim(names=[NAME])  # without ``recent``: always an upsert
    assert _upserts(queries) == 1 and BlobClaim.objects.get(name=NAME).claimed_at > first
    monkeypatch.setattr(blob_claims, "RECENT_CLAIM_SECONDS", 0.0)
    renewed = BlobClaim.objects.get(name=NAME).claimed_at
    blob_claims.blob_claim(names=[NAME], recent=True)  # too old now: renewed
    assert BlobClaim.objects.get(name=NAME).claimed_at > renewed


@pytest.mark.django_db(transaction=True)
def test_a_claim_inside_a_transaction_is_not_remembered_it_may_roll_back():
    other = NAME.replace("abcd", "abce")
    with transaction.atomic():
        blob_claims.blob_claim(names=[other], recent=True)
        transaction.set_rollback(True)
    assert not BlobClaim.objects.filter(name=other).exists()
    blob_claims.blob_claim(names=[other], recent=True)
    assert BlobClaim.objects.filter(name=other).exists()


@pytest.mark.django_db(transaction=True)
def test_a_short_grace_period_turns_the_reuse_off(settings):
    settings.MOLEXP_GC_GRACE_SECONDS = 0
    third = NAME.replace("abcd", "abcf")
    blob_claims.blob_claim(names=[third], recent=True)
    with CaptureQueriesContext(connection) as queries:
        blob_claims.blob_claim(names=[third], recent=True)
    assert _upserts(queries) == 1


@pytest.mark.django_db(transaction=True)
def test_launches_of_one_tree_claim_its_files_once_and_share_the_source_blob(chem_experiment, editor, monkeypatch):
    _no_broker(monkeypatch)
    [first] = run_launch(user=editor, experiment=chem_experiment)
    code = BlobClaim.objects.filter(name__startswith="code/")
    claims = dict(code.values_list("name", "claimed_at"))
    assert len(claims) == len(first.workflow_snapshot["files"])
    [second] = run_launch(user=editor, experiment=chem_experiment)
    assert dict(code.values_list("name", "claimed_at")) == claims  # not renewed a moment later
    assert second.source_blob_id == first.source_blob_id and SourceBlob.objects.count() == 1
    assert (first.number, second.number) == (1, 2)
    assert Experiment.objects.get(pk=chem_experiment.pk).run_counter == 2


# --- transitions and task rows -----------------------------------------------------------------


@pytest.mark.django_db
def test_two_moves_write_both_rows_and_their_events_in_order(chem_experiment, editor, monkeypatch):
    _no_broker(monkeypatch)
    [run] = run_launch(user=editor, experiment=chem_experiment)
    execution = Execution.objects.get(run=run)
    with CaptureQueriesContext(connection) as queries:
        with transaction.atomic():
            status_transitions((execution, ExecutionStatus.RUNNING, "claimed", {"worker_pid": 7}),
                               (run, RunStatus.RUNNING, "started", {}))  # fmt: skip
    writes = [q["sql"] for q in queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    assert len(writes) == 3 and writes[2].startswith("INSERT")  # two UPDATEs, one INSERT of both events
    assert execution.status == ExecutionStatus.RUNNING and execution.worker_pid == 7 and run.started_at
    events = list(RunEvent.objects.filter(run=run).order_by("id").values_list("subject", "to_status", "message"))
    assert events[-2:] == [("execution", "running", "claimed"), ("run", "running", "started")]


@pytest.mark.django_db
def test_a_lost_race_on_a_later_move_rolls_the_callers_transaction_back(chem_experiment, editor, monkeypatch):
    _no_broker(monkeypatch)
    [run] = run_launch(user=editor, experiment=chem_experiment)
    execution = Execution.objects.get(run=run)
    stale = Run.objects.get(pk=run.pk)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)  # changed under the caller
    events = RunEvent.objects.count()
    with transaction.atomic():
        with pytest.raises(IllegalTransition, match="no longer queued"):
            status_transitions((execution, ExecutionStatus.RUNNING, "claimed", {}),
                               (stale, RunStatus.RUNNING, "started", {}))  # fmt: skip
        assert transaction.get_rollback()  # the execution's UPDATE must not commit alone
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.QUEUED
    assert RunEvent.objects.count() == events


@pytest.mark.django_db(transaction=True)
def test_a_task_row_an_earlier_delivery_wrote_is_updated_not_duplicated(chem_experiment, editor, monkeypatch):
    _no_broker(monkeypatch)
    [run] = run_launch(user=editor, experiment=chem_experiment)
    execution = Execution.objects.get(run=run)
    TaskExecution.objects.create(execution=execution, task_name="load", status=TaskStatus.FAILED)
    recorder = _TaskRecorder(execution=execution, ctx=None)
    recorder.task_started("load")
    recorder.task_skipped("featurize", "not needed")
    with CaptureQueriesContext(connection) as queries:
        recorder.task_reused("load", None)  # the row this recorder wrote: one statement, the upsert updates it
    writes = [q["sql"] for q in queries if not q["sql"].upper().startswith(("BEGIN", "COMMIT"))]  # SQLite's
    assert len(writes) == 1 and "ON CONFLICT" in writes[0]
    rows = dict(TaskExecution.objects.filter(execution=execution).values_list("task_name", "status"))
    assert rows == {"load": TaskStatus.SUCCEEDED, "featurize": TaskStatus.SKIPPED}
    assert TaskExecution.objects.get(execution=execution, task_name="load").reused


# --- relaxed commits ---------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is a PostgreSQL setting")
@pytest.mark.django_db(transaction=True)
def test_a_relaxed_update_is_one_statement_committed_and_the_session_keeps_synchronous_commits(chem_experiment):
    with CaptureQueriesContext(connection) as queries:
        changed = durability.update_without_fsync_wait(Experiment.objects.filter(pk=chem_experiment.pk),
                                                       description="relaxed")  # fmt: skip
    assert changed == 1 and len(queries) == 1
    assert "set_config('synchronous_commit', 'off', true)" in queries[0]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
        # The setting is in force for the statement's own transaction (so for its commit):
        cursor.execute(
            "UPDATE runs_app_experiment SET description = 'x' WHERE id = %s "
            "AND set_config('synchronous_commit', 'off', true) IS NOT NULL RETURNING current_setting('synchronous_commit')",
            [chem_experiment.pk],
        )
        assert cursor.fetchone()[0] == "off"
    assert Experiment.objects.get(pk=chem_experiment.pk).description == "x"


# --- git: what is remembered between launches --------------------------------------------------


def _git(folder, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=folder, check=True,
                   capture_output=True)  # fmt: skip


def test_the_repository_found_is_kept_only_while_nothing_on_the_way_changed(tmp_path, monkeypatch):
    monkeypatch.setattr(gitstate, "RACY_NS", -(10**12))  # remember even what was written a moment ago
    monkeypatch.setattr(gitstate, "_repos", {})
    top, flows = tmp_path / "lab", tmp_path / "lab" / "flows"
    flows.mkdir(parents=True)
    (flows / "wf.py").write_text("x = 1\n")
    _git(top, "init", "-q", "-b", "main")
    _git(top, "add", ".")
    _git(top, "commit", "-q", "-m", "first")
    first = gitstate.git_capture(flows / "wf.py", root=flows)
    assert first.commit and first.workflow_state == gitstate.COMMITTED
    assert len(gitstate._repos) == 1
    (flows / "wf.py").write_text("x = 2\n")  # read by the status process of every launch
    assert gitstate.git_capture(flows / "wf.py", root=flows).workflow_state == gitstate.MODIFIED
    _git(flows, "init", "-q", "-b", "inner")  # a repository appears on the way: found at once
    inner = gitstate.git_capture(flows / "wf.py", root=flows)
    assert inner.commit == "" and inner.workflow_state == gitstate.UNTRACKED
    shutil.rmtree(flows / ".git")
    assert gitstate.git_capture(flows / "wf.py", root=flows).commit == first.commit
    shutil.rmtree(top / ".git")  # and vanishes: no repository, no state
    assert gitstate.git_capture(flows / "wf.py", root=flows) == gitstate.GitState()


def test_a_file_ignored_after_the_index_was_remembered_is_never_called_committed(tmp_path, monkeypatch):
    monkeypatch.setattr(gitstate, "RACY_NS", -(10**12))
    (tmp_path / "wf.py").write_text("x = 1\n")
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    assert gitstate.git_capture(tmp_path / "wf.py").workflow_state == gitstate.COMMITTED
    _git(tmp_path, "rm", "-q", "--cached", "wf.py")  # the index is rewritten (a new file): read again
    (tmp_path / ".gitignore").write_text("wf.py\n")
    _git(tmp_path, "add", ".gitignore")
    _git(tmp_path, "commit", "-q", "-m", "ignore it")  # git status no longer names wf.py at all
    assert gitstate.git_capture(tmp_path / "wf.py").workflow_state == gitstate.UNTRACKED
