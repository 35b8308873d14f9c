"""Run history (status events) is paginated in the page and the API (issue 12, deliverable 2).

A run with 200 000 events (an imported record can carry that many) gives a run
page and a history answer of bounded size, in bounded time, with the same
number of queries as a run with one event.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs_app.choices import EventSubject, RunStatus
from runs_app.models import RunEvent
from tests import factories as f

pytestmark = pytest.mark.django_db

PAGE_BYTES = 120_000


def _add_events(run, count: int) -> None:
    """``count`` events "event 0" … in id order, made by the database itself in one statement.

    (200 000 model instances through ``bulk_create`` cost seconds of Python per test; the rows are the same.)
    """
    table = RunEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %s) "
            f"INSERT INTO {table} (run_id, subject, created_at, from_status, to_status, message) "
            f"SELECT %s, %s, %s, 'queued', 'running', 'event ' || i FROM n ORDER BY i",
            [count, run.pk, EventSubject.RUN, timezone.now()],
        )
    assert RunEvent.objects.filter(run=run).count() == count


def _ids(run) -> list[int]:
    return list(RunEvent.objects.filter(run=run).order_by("id").values_list("id", flat=True))


@pytest.fixture
def small_run(experiment):
    run = f.RunFactory(experiment=experiment, status=RunStatus.FAILED)
    _add_events(run, 1)
    return run


@pytest.fixture
def huge_run(experiment):
    run = f.RunFactory(experiment=experiment, status=RunStatus.FAILED)
    _add_events(run, 200_000)
    return run


def _queries(client, url) -> tuple[int, object, float]:
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    return len(ctx.captured_queries), response, time.perf_counter() - started


def test_the_run_page_stays_bounded_for_200k_events(web_client_for, small_run, huge_run, settings):
    client = web_client_for("viewer")
    small_count, small, _ = _queries(client, small_run.get_absolute_url())
    huge_count, huge, seconds = _queries(client, huge_run.get_absolute_url())
    assert small.status_code == huge.status_code == 200
    assert huge_count <= small_count + 1  # the second keyset query: "are there later events?"
    assert len(huge.content) < PAGE_BYTES
    assert seconds < 3.0
    text = huge.content.decode()
    assert text.count("event ") >= settings.MOLEXP_RUN_EVENTS_PAGE_SIZE
    assert ">event 0<" in text and ">event 100<" not in text
    assert "events_after=" in text and "events=latest" in text


def test_the_run_page_walks_the_history_by_keyset(web_client_for, experiment, settings):
    settings.MOLEXP_RUN_EVENTS_PAGE_SIZE = 3
    run = f.RunFactory(experiment=experiment, status=RunStatus.FAILED)
    _add_events(run, 8)
    ids = _ids(run)
    client = web_client_for("viewer")
    url = run.get_absolute_url()
    second = client.get(url, {"events_after": ids[2]}).content.decode()
    assert [f">event {i}<" in second for i in range(8)] == [False, False, False, True, True, True, False, False]
    assert f"events_before={ids[3]}" in second and f"events_after={ids[5]}" in second
    latest = client.get(url, {"events": "latest"}).content.decode()
    assert [f">event {i}<" in latest for i in range(8)] == [False] * 5 + [True] * 3
    assert "events_after=" not in latest and f"events_before={ids[5]}" in latest
    earlier = client.get(url, {"events_before": ids[5]}).content.decode()
    assert [f">event {i}<" in earlier for i in range(8)] == [False, False, True, True, True, False, False, False]


@pytest.mark.parametrize("value", ["x", "-1", "9" * 5000, "1.5"])
def test_a_bad_history_cursor_is_a_400(web_client_for, api_client_for, small_run, value):
    page = web_client_for("viewer").get(small_run.get_absolute_url(), {"events_after": value})
    assert page.status_code == 400 and b"events_after must be an event id" in page.content
    api = api_client_for("viewer").get(f"/api/runs/{small_run.pk}/history/", {"events_before": value})
    assert api.status_code == 400 and "events_before must be an event id" in api.json()["detail"]


def test_the_api_history_is_paginated(api_client_for, small_run, huge_run, settings):
    client = api_client_for("viewer")
    small_count, small, _ = _queries(client, f"/api/runs/{small_run.pk}/history/")
    huge_count, huge, seconds = _queries(client, f"/api/runs/{huge_run.pk}/history/")
    assert small.status_code == huge.status_code == 200
    assert huge_count <= small_count + 1
    assert len(huge.content) < PAGE_BYTES and seconds < 3.0
    body = huge.json()
    assert len(body["events"]) == settings.MOLEXP_RUN_EVENTS_PAGE_SIZE
    assert body["events_previous"] is None and "events_after=" in body["events_next"]
    assert small.json()["events_next"] is None and small.json()["events_previous"] is None
    # Following the links walks the history in order, without gaps or repeats.
    settings.MOLEXP_RUN_EVENTS_PAGE_SIZE = 4
    run = f.RunFactory(experiment=small_run.experiment, status=RunStatus.FAILED)
    _add_events(run, 10)
    seen, url = [], f"/api/runs/{run.pk}/history/"
    while url:
        page = client.get(url).json()
        seen += [e["id"] for e in page["events"]]
        url = page["events_next"]
    assert seen == _ids(run)
    latest = client.get(f"/api/runs/{run.pk}/history/", {"events": "latest"}).json()
    assert [e["id"] for e in latest["events"]] == _ids(run)[-4:] and latest["events_next"] is None
    back = client.get(latest["events_previous"]).json()
    assert [e["id"] for e in back["events"]] == _ids(run)[-8:-4]


def test_history_of_an_invisible_run_is_404(api_client_for, web_client_for, small_run):
    assert api_client_for("outsider").get(f"/api/runs/{small_run.pk}/history/?events=latest").status_code == 404
    assert web_client_for("outsider").get(small_run.get_absolute_url() + "?events_after=1").status_code == 404
