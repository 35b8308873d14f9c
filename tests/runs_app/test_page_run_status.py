"""The live status fragment polls itself every 2 s and tells htmx to stop (286) once the run is terminal."""

from __future__ import annotations

import pytest

from runs_app.choices import RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.LOST])
def test_terminal_run_stops_polling_with_286(web_client_for, experiment, status):
    run = f.RunFactory(experiment=experiment, status=status)
    response = web_client_for("viewer").get(f"/runs/{run.pk}/status/", HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    assert 'hx-trigger="every 2s"' not in response.content.decode()


@pytest.mark.parametrize("status", [RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING])
def test_active_run_keeps_polling_with_200(web_client_for, experiment, status):
    run = f.RunFactory(experiment=experiment, status=status)
    response = web_client_for("viewer").get(f"/runs/{run.pk}/status/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert f'hx-get="/runs/{run.pk}/status/"' in body
    assert 'hx-trigger="every 2s"' in body and 'hx-swap="outerHTML"' in body
    assert "<html" not in body


def test_run_page_includes_the_polling_fragment(web_client_for, experiment):
    run = f.RunFactory(experiment=experiment, status=RunStatus.RUNNING)
    body = web_client_for("viewer").get(run.get_absolute_url()).content.decode()
    assert 'id="run-status"' in body
    assert f'hx-get="/runs/{run.pk}/status/"' in body
