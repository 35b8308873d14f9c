"""Every runs_app list endpoint costs the same small number of queries at 3 and at 30 rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs_app.choices import Role
from tests import factories as f

MAX_QUERIES = 6


def _make_rows(kind, n, ws, owner):
    if kind == "workspaces":
        for _ in range(n):
            f.MembershipFactory(workspace=f.WorkspaceFactory(), user=owner, role=Role.EDITOR)
    elif kind == "members":
        for _ in range(n):
            f.MembershipFactory(workspace=ws, role=Role.VIEWER)
    elif kind == "projects":
        for _ in range(n):
            f.ProjectFactory(workspace=ws)
    elif kind == "experiments":
        project = f.ProjectFactory(workspace=ws)
        for _ in range(n):
            f.ExperimentFactory(project=project)
    elif kind == "runs":
        experiment = f.ExperimentFactory(project=f.ProjectFactory(workspace=ws))
        for number in range(1, n + 1):
            run = f.RunFactory(experiment=experiment, number=number, launched_by=owner)
            f.TaskExecutionFactory(execution=f.ExecutionFactory(run=run, number=1))


URLS = {
    "workspaces": "/api/workspaces/",
    "members": "/api/workspaces/{ws}/members/",
    "projects": "/api/projects/",
    "experiments": "/api/experiments/",
    "runs": "/api/runs/",
}


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()["count"]


@pytest.mark.parametrize("kind", list(URLS))
def test_list_query_count_is_constant(api_client_for, ws, owner, kind):
    client = api_client_for("owner")
    url = URLS[kind].format(ws=ws.pk)
    _make_rows(kind, 3, ws, owner)
    small, small_rows = _count(client, url)
    _make_rows(kind, 27, ws, owner)
    large, large_rows = _count(client, url)
    assert large_rows - small_rows == 27
    assert small == large <= MAX_QUERIES


def test_run_detail_and_history_query_counts_do_not_grow_with_executions(api_client_for, run):
    client = api_client_for("owner")
    for number in range(1, 4):
        f.TaskExecutionFactory(execution=f.ExecutionFactory(run=run, number=number))
    with CaptureQueriesContext(connection) as small:
        client.get(f"/api/runs/{run.pk}/")
        client.get(f"/api/runs/{run.pk}/history/")
    for number in range(4, 31):
        execution = f.ExecutionFactory(run=run, number=number)
        f.TaskExecutionFactory(execution=execution)
        f.RunEventFactory(run=run, execution=execution)
    with CaptureQueriesContext(connection) as large:
        client.get(f"/api/runs/{run.pk}/")
        client.get(f"/api/runs/{run.pk}/history/")
    assert len(small) == len(large) <= 2 * MAX_QUERIES
