"""SPEC §15: the dashboard's "running now" and "recent failures" update live: the page polls a
small fragment (htmx), which costs two queries of runs whatever their number, and is scoped."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs_app.choices import RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

LIVE = "/dashboard/live/"


def test_the_page_polls_the_fragment(web_client_for, experiment):
    html = web_client_for("viewer").get("/").content.decode()
    assert 'id="dashboard-live" hx-get="/dashboard/live/" hx-trigger="every 5s" hx-swap="outerHTML"' in html


def test_the_fragment_shows_what_changed_since_the_page_loaded(web_client_for, experiment):
    client = web_client_for("viewer")
    assert "Nothing is queued or running." in client.get("/").content.decode()
    run = f.RunFactory(experiment=experiment, status=RunStatus.RUNNING, number=7)
    live = client.get(LIVE)
    html = live.content.decode()
    assert live.status_code == 200 and "<html" not in html and 'id="dashboard-live"' in html
    assert f"{experiment.name} #7" in html and "No failed runs." in html
    run.status = RunStatus.FAILED
    run.save()
    html = client.get(LIVE).content.decode()
    assert "Nothing is queued or running." in html and f"{experiment.name} #7" in html


def test_the_fragment_is_scoped_and_needs_a_login(web_client_for, experiment, client):
    f.RunFactory(experiment=experiment, status=RunStatus.RUNNING, number=7)
    assert f"{experiment.name} #7" not in web_client_for("outsider").get(LIVE).content.decode()
    assert client.get(LIVE).status_code == 302


def test_the_fragment_costs_constant_queries(web_client_for, experiment):
    client = web_client_for("viewer")
    client.get(LIVE)
    counts = []
    for _ in range(2):
        for _ in range(12):
            f.RunFactory(experiment=experiment, status=RunStatus.RUNNING)
            f.RunFactory(experiment=experiment, status=RunStatus.FAILED)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(LIVE).status_code == 200
        counts.append(len(ctx))
    assert counts[0] == counts[1] <= 4, counts  # session, user, running, failures
