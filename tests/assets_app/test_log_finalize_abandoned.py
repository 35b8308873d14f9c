"""Logs no worker will finalize (killed, lost, terminated) are finalized by the maintenance, hashed and
searchable; a log is searchable beyond its last 64 KiB (SPEC §8, §12)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from assets_app import services
from assets_app.models import Asset
from assets_app.services.log_index import LogWordIndex
from assets_app.services.log_sweep import log_finalize_abandoned
from assets_app.services.registration import SEARCH_TEXT_LIMIT
from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.models import Execution, Run
from runs_app.tasks import maintenance_task
from tests.factories import ExecutionFactory, RunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(tmp_path)}},
    }


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


def _live_log(run, execution, lines: list[str], name: str = "train.stdout"):
    log = services.log_open(run=run, execution=execution, name=name, task="train")
    services.log_append_lines(asset=log, lines=lines)
    return Asset.objects.get(pk=log.pk)


def _search(client, q: str) -> set[int]:
    response = client.get("/api/assets/", {"q": q, "page_size": 100})
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_maintenance_reaps_a_silent_execution_and_finalizes_its_log(project, api_client_for):
    run = RunFactory(experiment__project=project, status=RunStatus.RUNNING)
    long_ago = timezone.now() - timedelta(minutes=10)
    execution = ExecutionFactory(run=run, status=ExecutionStatus.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    log = _live_log(run, execution, ["epoch 1 loss 0.5", "zanzibar diverged"])
    assert log.file.name.endswith("/") and not log.sha256

    counts = maintenance_task()

    assert counts["lost"] == 1 and counts["logs_finalized"] == 1
    log.refresh_from_db()
    body = b"epoch 1 loss 0.5\nzanzibar diverged\n"
    assert not log.file.name.endswith("/") and log.sha256 == hashlib.sha256(body).hexdigest()
    assert log.read_bytes() == body and log.line_count == 2
    assert _search(api_client_for("viewer"), "zanzibar") == {log.pk}
    assert maintenance_task()["logs_finalized"] == 0  # nothing left to do


def test_a_terminated_execution_is_finalized_only_after_the_worker_fell_silent(project, settings):
    run = RunFactory(experiment__project=project, status=RunStatus.CANCELLED)
    now = timezone.now()
    execution = ExecutionFactory(run=run, status=ExecutionStatus.CANCELLED, started_at=now, heartbeat_at=now)
    log = _live_log(run, execution, ["still being killed"])

    assert log_finalize_abandoned(now=now) == 0  # its process may still write
    log.refresh_from_db()
    assert log.file.name.endswith("/")

    later = now + timedelta(seconds=settings.MOLEXP_LOST_AFTER_SECONDS + 1)
    assert log_finalize_abandoned(now=later) == 1
    log.refresh_from_db()
    assert log.sha256 and log.read_bytes() == b"still being killed\n"


def test_logs_of_running_executions_and_of_claimed_retries_are_left_alone(project):
    long_ago = timezone.now() - timedelta(minutes=10)
    running = RunFactory(experiment__project=project, status=RunStatus.RUNNING)
    live = _live_log(running, ExecutionFactory(run=running, status=ExecutionStatus.RUNNING, started_at=long_ago,
                                               heartbeat_at=timezone.now()), ["working"])  # fmt: skip
    retried = RunFactory(experiment__project=project, status=RunStatus.RUNNING)
    lost = ExecutionFactory(run=retried, status=ExecutionStatus.LOST, started_at=long_ago, heartbeat_at=long_ago)
    reopened = _live_log(retried, lost, ["first attempt"])
    # A retry claims the run while the sweep runs: the conditional update must not take its segments.
    ExecutionFactory(run=retried, status=ExecutionStatus.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    assert services.log_finalize(asset=reopened.as_kind(), abandoned_before=timezone.now()) is False

    assert log_finalize_abandoned() == 0
    for log in (live, reopened):
        log.refresh_from_db()
        assert log.file.name.endswith("/") and not log.sha256
    Execution.objects.filter(run=retried, status=ExecutionStatus.RUNNING).update(status=ExecutionStatus.SUCCEEDED)
    assert log_finalize_abandoned() == 1  # the attempt is over: now it is finalized


def test_a_word_far_before_the_last_64_kib_is_found_and_the_newest_line_too(run, api_client_for):
    run = Run.objects.get(pk=run.pk)
    execution = ExecutionFactory(run=run)
    filler = [f"step {i} loss {i % 7}" for i in range(30_000)]  # ~500 KiB
    log = _live_log(run, execution, ["quixotic start", *filler, "the very last line saysgoodbye"])
    services.log_finalize(asset=log.as_kind())
    log.refresh_from_db()
    assert log.size > 8 * SEARCH_TEXT_LIMIT
    client = api_client_for("viewer")
    assert _search(client, "quixotic") == {log.pk}
    assert _search(client, "saysgoodbye") == {log.pk}  # the newest lines are never cut off
    assert _search(client, '"very last line"') == {log.pk}  # phrases within the tail
    assert len(log.search_text) < SEARCH_TEXT_LIMIT + 300 * 1024


def test_the_word_index_is_bounded_and_keeps_first_words():
    index = LogWordIndex(limit=100)
    index.feed(b"Alpha beta alpha BETA gam")
    index.feed(b"ma d\xc3")  # a character cut between two pieces
    index.feed(b"\xa9j\xc3\xa0 ")
    assert index.text() == "alpha beta gamma déjà"
    index.feed(" ".join(f"w{i}" for i in range(100)).encode() + b" ")
    assert not index.complete and len(index.text().encode()) <= 100
    assert index.text().startswith("alpha beta gamma déjà w0 w1")


def test_the_sweep_reads_live_logs_through_the_partial_index():
    from assets_app.services import log_sweep

    assert "asset_live_log" in log_sweep._abandoned_logs(quiet_since=timezone.now()).explain()
