"""``manage.py reproduce RUN [--user U] [--wait]``."""

from __future__ import annotations

import threading

import pytest
from django.core.management import CommandError, call_command

from runs_app.models import Execution, Run
from runs_app.services import execution_run, run_launch

from .reproduce_workflows import *  # noqa: F403 - fixtures (steady, noisy, repro_dir, _no_broker) and helpers
from .reproduce_workflows import finished_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_reproduce_by_path_queues_a_reproduction(steady, editor, capsys):
    original = finished_run(steady, editor)
    call_command("reproduce", f"lab/qm9/steady#{original.number}", "--user", "editor")
    copy = Run.objects.get(reproduction_of=original)
    assert f"run #{copy.number} (id {copy.pk}) queued: reproduction of run #1" in capsys.readouterr().out


def test_reproduce_wait_prints_the_verdict(steady, editor, capsys):
    original = finished_run(steady, editor)

    def worker():  # stands in for the worker: execute the reproduction once it is queued
        import time

        for _ in range(200):
            execution = Execution.objects.filter(run__reproduction_of=original).first()
            if execution is not None:
                execution_run(execution_id=execution.pk)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        call_command(
            "reproduce", str(original.pk), "--user", "editor", "--wait", "--interval", "0.1", "--timeout", "30"
        )
    finally:
        thread.join()
    out = capsys.readouterr().out
    assert "reproduced: 2 of 2 artifacts identical, results equal, metrics within 1e-09" in out


def test_reproduce_refuses_bad_references_viewers_and_unfinished_runs(steady, editor, viewer):
    original = finished_run(steady, editor)
    with pytest.raises(CommandError, match="give a run id or"):
        call_command("reproduce", "lab/qm9", "--user", "editor")
    with pytest.raises(CommandError, match="No run"):
        call_command("reproduce", "lab/qm9/steady#99", "--user", "editor")
    with pytest.raises(CommandError, match="needs the editor role"):
        call_command("reproduce", str(original.pk), "--user", "viewer")
    [queued] = run_launch(user=editor, experiment=steady)
    with pytest.raises(CommandError, match="only a succeeded or failed run"):
        call_command("reproduce", str(queued.pk), "--user", "editor")
