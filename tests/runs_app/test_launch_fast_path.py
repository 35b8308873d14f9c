"""The launch fast path: git state read at every launch (never stale), topology inspected once per
content, run numbers unique and gap-free, Redis dispatch pipelined, transitions without savepoints."""

from __future__ import annotations

import subprocess
import threading

import pytest
from django.conf import settings
from django.db import connection, transaction

from molexp_site.errors import IllegalTransition
from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.gitstate import git_capture
from runs_app.models import Execution, Experiment, Run, RunEvent
from runs_app.services import discovery, dispatch, durability, run_launch
from runs_app.services.core import status_transition

IDENT = ["-c", "user.name=t", "-c", "user.email=t@example.org"]


def _git(folder, *args):
    subprocess.run(["git", *IDENT, *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture
def git_workflow_dir(workflow_dir):
    (workflow_dir / "helper.txt").write_text("one\n")
    _git(workflow_dir, "init", "-q", "-b", "main")
    _git(workflow_dir, "add", ".")
    _git(workflow_dir, "commit", "-q", "-m", "first")
    return workflow_dir


def _head(folder) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True).stdout.strip()


# --- git state ------------------------------------------------------------------------------


def test_git_capture_reads_commit_branch_and_dirty_state_afresh_every_time(git_workflow_dir):
    path = git_workflow_dir / "chem.py"
    clean = git_capture(path)
    assert clean.commit == _head(git_workflow_dir) and clean.branch == "main"
    assert clean.dirty is False and clean.diff == ""

    path.write_text(path.read_text() + "\n# edited\n")
    edited = git_capture(path)
    assert edited.dirty is True and "+# edited" in edited.diff and edited.commit == clean.commit

    _git(git_workflow_dir, "checkout", "-q", "--", "chem.py")
    assert git_capture(path).dirty is False

    # another tracked file of the repository, staged: still dirty (staged + unstaged vs HEAD)
    (git_workflow_dir / "helper.txt").write_text("two\n")
    _git(git_workflow_dir, "add", "helper.txt")
    staged = git_capture(path)
    assert staged.dirty is True and "+two" in staged.diff

    _git(git_workflow_dir, "commit", "-q", "-m", "second")
    committed = git_capture(path)
    assert committed.dirty is False and committed.commit == _head(git_workflow_dir) != clean.commit

    # untracked files do not make the tree dirty (as before: untracked_files=False)
    (git_workflow_dir / "scratch.txt").write_text("x")
    assert git_capture(path).dirty is False

    _git(git_workflow_dir, "checkout", "-q", "--detach")
    assert git_capture(path).branch == ""


def test_git_capture_outside_a_repository_records_no_state(tmp_path):
    (tmp_path / "w.py").write_text("x = 1\n")
    state = git_capture(tmp_path / "w.py")
    assert (state.commit, state.branch, state.dirty, state.diff) == ("", "", None, "")


@pytest.mark.django_db
def test_each_launch_records_the_git_state_of_that_moment(
    git_workflow_dir, project, editor, django_capture_on_commit_callbacks
):
    from runs_app.services import experiment_create

    experiment = experiment_create(user=editor, project=project, name="Chem", workflow_source="chem.py")
    with django_capture_on_commit_callbacks(execute=False):
        [first] = run_launch(user=editor, experiment=experiment)
        (git_workflow_dir / "helper.txt").write_text("changed between two launches\n")
        [second] = run_launch(user=editor, experiment=experiment)
        _git(git_workflow_dir, "commit", "-q", "-am", "third")
        [third] = run_launch(user=editor, experiment=experiment)
    snaps = [Run.objects.get(pk=r.pk).workflow_snapshot for r in (first, second, third)]
    assert snaps[0]["git_dirty"] is False and snaps[0]["git_diff"] == ""
    assert snaps[1]["git_dirty"] is True and "+changed between two launches" in snaps[1]["git_diff"]
    assert snaps[2]["git_dirty"] is False and snaps[2]["git_commit"] == _head(git_workflow_dir)
    assert snaps[2]["git_commit"] != snaps[1]["git_commit"]


# --- topology inspection ---------------------------------------------------------------------


@pytest.mark.django_db
def test_topology_is_inspected_once_per_content_and_again_when_the_source_changes(
    chem_experiment, editor, workflow_dir, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    real_run = subprocess.run

    def spy(cmd, *args, **kwargs):
        if "runs_app.workflow.inspect" in cmd:
            calls.append(cmd)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(discovery.subprocess, "run", spy)
    with django_capture_on_commit_callbacks(execute=False):
        run_launch(user=editor, experiment=chem_experiment)
        run_launch(user=editor, experiment=chem_experiment)
        run_launch(user=editor, experiment=chem_experiment, sweep={"x": [1, 2]})
    assert len(calls) <= 1  # at most once for this content (none if this process already knew it)
    before = len(calls)

    source = (workflow_dir / "chem.py").read_text()
    (workflow_dir / "chem.py").write_text(
        source + '\n\n@workflow.task(depends_on=["summarize"])\ndef extra(ctx, summarize):\n    return 1\n'
    )
    with django_capture_on_commit_callbacks(execute=False):
        [run] = run_launch(user=editor, experiment=chem_experiment)
    assert len(calls) == before + 1
    assert Run.objects.get(pk=run.pk).workflow_snapshot["tasks"][-1] == "extra"


@pytest.fixture
def inspect_calls(monkeypatch):
    calls = []
    real_run = subprocess.run

    def spy(cmd, *args, **kwargs):
        if "runs_app.workflow.inspect" in cmd:
            calls.append(cmd)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(discovery.subprocess, "run", spy)
    return calls


@pytest.mark.django_db
def test_another_process_reuses_the_shared_topology_and_a_changed_helper_is_inspected_again(
    workflow_dir, inspect_calls, monkeypatch
):
    path = workflow_dir / "chem.py"
    monkeypatch.setattr(discovery, "_topology_cache", {})  # this process knows nothing yet
    first = discovery.workflow_inspect(path=path)
    assert first["workflows"][0]["name"] == "chem"
    monkeypatch.setattr(discovery, "_topology_cache", {})  # a fresh web process, a manage.py launch
    assert discovery.workflow_inspect(path=path) == first
    assert len(inspect_calls) == 1  # the cache is cleared per test (_private_cache): nothing was shared before
    before = len(inspect_calls)

    (workflow_dir / "helpers.py").write_text("SCALE = 2\n")  # a module the workflow could import
    monkeypatch.setattr(discovery, "_topology_cache", {})
    assert discovery.workflow_inspect(path=path) == first
    assert len(inspect_calls) == before + 1


@pytest.mark.django_db
def test_a_changed_helper_in_a_sub_package_of_the_root_is_inspected_again(workflow_dir, inspect_calls):
    path = workflow_dir / "chem.py"
    (workflow_dir / "lib").mkdir()
    (workflow_dir / "lib" / "tasks.py").write_text("A = 1\n")
    discovery.workflow_inspect(path=path)
    before = len(inspect_calls)
    (workflow_dir / "lib" / "tasks.py").write_text("A = 22\n")  # e.g. a module that defines tasks
    discovery.workflow_inspect(path=path)
    assert len(inspect_calls) == before + 1


@pytest.mark.django_db
def test_a_failed_inspection_is_not_shared(workflow_dir, inspect_calls, monkeypatch):
    path = workflow_dir / "broken.py"
    path.write_text("def oops(:\n")
    assert "syntax error" in discovery.workflow_inspect(path=path)["error"]
    monkeypatch.setattr(discovery, "_topology_cache", {})
    assert "syntax error" in discovery.workflow_inspect(path=path)["error"]
    assert len(inspect_calls) == 2


# --- run numbers ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_rolled_back_launch_gives_its_numbers_back(chem_experiment, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run_launch(user=editor, experiment=chem_experiment)
        with pytest.raises(RuntimeError), transaction.atomic():
            run_launch(user=editor, experiment=chem_experiment, sweep={"x": [1, 2, 3]})
            raise RuntimeError("the caller's transaction fails after the launch")
        runs = run_launch(user=editor, experiment=chem_experiment, sweep={"x": [1, 2]})
    assert [r.number for r in runs] == [2, 3]
    assert sorted(Run.objects.filter(experiment=chem_experiment).values_list("number", flat=True)) == [1, 2, 3]
    assert Experiment.objects.get(pk=chem_experiment.pk).run_counter == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_launches_get_unique_gap_free_numbers(chem_experiment, editor, monkeypatch):
    monkeypatch.setattr(dispatch, "execution_dispatch", lambda executions: None)
    run_launch(user=editor, experiment=chem_experiment)  # inspect once before the threads start
    errors = []
    start = threading.Barrier(6)

    def launch(k: int) -> None:
        try:
            start.wait(timeout=30)
            for j in range(5):
                if j % 2:
                    run_launch(user=editor, experiment=chem_experiment, sweep={"k": [k], "j": [j, j + 100]})
                else:
                    run_launch(user=editor, experiment=chem_experiment, params={"k": k, "j": j})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=launch, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    numbers = sorted(Run.objects.filter(experiment=chem_experiment).values_list("number", flat=True))
    expected = 1 + 6 * (3 * 1 + 2 * 2)
    assert numbers == list(range(1, expected + 1))
    assert Experiment.objects.get(pk=chem_experiment.pk).run_counter == expected


# --- status transitions inside a transaction -------------------------------------------------


@pytest.mark.django_db
def test_a_lost_race_inside_a_transaction_leaves_it_usable(chem_experiment, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        [run] = run_launch(user=editor, experiment=chem_experiment)
    execution = Execution.objects.get(run=run)
    stale = Execution.objects.get(pk=execution.pk)
    with transaction.atomic():
        status_transition(obj=execution, to_status=ExecutionStatus.CANCELLED, message="first")
        with pytest.raises(IllegalTransition):
            status_transition(obj=stale, to_status=ExecutionStatus.RUNNING, message="second")  # still thinks queued
        status_transition(obj=run, to_status=RunStatus.CANCELLED, message="first")
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.CANCELLED
    assert Run.objects.get(pk=run.pk).status == RunStatus.CANCELLED
    assert not RunEvent.objects.filter(execution=execution, to_status=ExecutionStatus.RUNNING).exists()


# --- dispatch --------------------------------------------------------------------------------

redis_only = pytest.mark.skipif(
    not str(settings.CELERY_BROKER_URL).startswith("redis://"), reason="pipelined dispatch is Redis-only"
)


def _runs_queue_length() -> int:
    from molexp_site.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.client.llen("runs")


def _purge_runs_queue() -> None:
    from molexp_site.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.client.delete("runs")


@redis_only
@pytest.mark.django_db(transaction=True)
def test_a_sweep_is_dispatched_in_pipelined_batches_and_marked_dispatched(chem_experiment, editor, monkeypatch):
    import redis.client

    monkeypatch.setattr(dispatch, "DISPATCH_BATCH", 4)
    executed = []
    real_execute = redis.client.Pipeline.execute

    def counting_execute(self, *args, **kwargs):
        pushes = [c for c in self.command_stack if str(c[0][0]).upper() == "LPUSH"]
        if pushes:  # kombu pipelines other commands itself (queue sizes at declaration)
            executed.append(len(pushes))
        return real_execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counting_execute)
    _purge_runs_queue()
    try:
        runs = run_launch(user=editor, experiment=chem_experiment, sweep={"x": list(range(10))})
        assert _runs_queue_length() == 10
    finally:
        _purge_runs_queue()
    assert executed == [4, 4, 2]  # three round trips for ten messages
    assert not Execution.objects.filter(run__in=runs, dispatched_at__isnull=True).exists()


@redis_only
@pytest.mark.django_db(transaction=True)
def test_a_failed_pipeline_leaves_the_executions_for_the_reconciler(chem_experiment, editor, monkeypatch):
    import redis.client
    import redis.exceptions

    def broken(self, *args, **kwargs):
        raise redis.exceptions.ConnectionError("broker went away")

    monkeypatch.setattr(redis.client.Pipeline, "execute", broken)
    _purge_runs_queue()
    try:
        runs = run_launch(user=editor, experiment=chem_experiment, sweep={"x": [1, 2, 3]})
        assert _runs_queue_length() == 0
    finally:
        _purge_runs_queue()
    assert Execution.objects.filter(run__in=runs, status="queued", dispatched_at__isnull=True).count() == 3
    assert Run.objects.filter(pk__in=[r.pk for r in runs], status="queued").count() == 3


# --- molcfg parse ----------------------------------------------------------------------------


def test_molcfg_parse_of_the_same_text_is_shared_but_each_caller_gets_its_own_copy(tmp_path):
    from runs_app.profiles import ProfileError, load_molcfg

    path = tmp_path / "molcfg.yaml"
    path.write_text("version: 1\ndefaults: {lr: 0.1, nested: {a: 1}}\nprofiles:\n  fast: {lr: 0.5}\n")
    first = load_molcfg(path)
    first["defaults"]["nested"]["a"] = 99  # a caller mutating its result
    first["profiles"]["fast"]["lr"] = -1
    second = load_molcfg(path)
    assert second["defaults"] == {"lr": 0.1, "nested": {"a": 1}} and second["profiles"]["fast"] == {"lr": 0.5}

    path.write_text("version: 1\ndefaults: {lr: 0.2}\nprofiles: {}\n")
    assert load_molcfg(path)["defaults"] == {"lr": 0.2}
    path.write_text("version: 1\nprofiles: {a: {extends: b}}\n")
    for _ in range(2):  # a bad file fails every time it is read
        with pytest.raises(ProfileError, match="extends unknown profile"):
            load_molcfg(path)


# --- commits that do not wait for the WAL flush ----------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is a PostgreSQL setting")
@pytest.mark.django_db(transaction=True)
def test_only_the_relaxed_writes_skip_the_flush_wait_and_they_are_committed(chem_experiment, editor):
    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    assert setting() == "on"
    with durability.without_fsync_wait():
        assert setting() == "off"
        Experiment.objects.filter(pk=chem_experiment.pk).update(description="relaxed")
    assert setting() == "on"  # SET LOCAL: the session (claims, terminal states) keeps synchronous commits
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # a fresh statement outside the block
    assert Experiment.objects.get(pk=chem_experiment.pk).description == "relaxed"
