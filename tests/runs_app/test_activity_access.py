"""Who may read a workspace's activity feed, and its constant query count at two sizes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs_app.choices import RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

PAGE = {"owner": 200, "editor": 200, "viewer": 200, "outsider": 404, "anonymous": 302}
API = {"owner": 200, "editor": 200, "viewer": 200, "outsider": 404, "anonymous": 401}


@pytest.mark.parametrize("role", list(PAGE))
def test_page_permission_matrix(web_client_for, ws, role):
    assert web_client_for(role).get("/w/lab/activity/").status_code == PAGE[role]


@pytest.mark.parametrize("role", list(API))
def test_api_permission_matrix(api_client_for, ws, role):
    assert api_client_for(role).get(f"/api/workspaces/{ws.pk}/activity/").status_code == API[role]


def test_api_malformed_workspace_id_is_404(api_client_for, ws):
    assert api_client_for("owner").get("/api/workspaces/abc/activity/").status_code == 404


def _grow(ws, experiment, owner, n):
    for i in range(n):
        run = f.RunFactory(experiment=experiment, launched_by=owner, status=RunStatus.SUCCEEDED)
        f.RunEventFactory(run=run, from_status="pending", to_status="queued")
        f.RunEventFactory(run=run, from_status="queued", to_status="running", message=f"on worker {i}")
        f.AssetFactory(workspace=ws, project=experiment.project, producer_run=run, created_by=owner)


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx)


@pytest.mark.parametrize("kind", ["page", "fragment", "api"])
def test_queries_constant(web_client_for, api_client_for, ws, experiment, owner, kind):
    if kind == "api":
        client, url, headers = api_client_for("viewer"), f"/api/workspaces/{ws.pk}/activity/", {}
    else:
        client, url = web_client_for("viewer"), "/w/lab/activity/"
        headers = {"HX-Request": "true"} if kind == "fragment" else {}
    _grow(ws, experiment, owner, 2)
    client.get(url, headers=headers)  # warm per-process caches
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, headers=headers).status_code == 200
    small = len(ctx)
    _grow(ws, experiment, owner, 30)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
    large = len(ctx)
    assert small == large, f"{small} queries with 6 entries, {large} with 96"
    assert large <= 10
