"""Every runs_app list page costs the same number of queries at 3 and at 25 rows (and at most 10)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs_app.choices import Role, RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

MAX_QUERIES = 10


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx)


def _assert_constant(client, url: str, grow) -> None:
    """Measure at 3 rows, grow to 25, measure again."""
    grow(3)
    client.get(url)  # warm per-process caches (content types, templates)
    small = _count(client, url)
    grow(22)
    large = _count(client, url)
    assert small == large, f"{url}: {small} queries at 3 rows, {large} at 25"
    assert large <= MAX_QUERIES, f"{url}: {large} queries"


def test_dashboard_queries_constant(web_client_for, owner, experiment):
    def grow(n):
        for _ in range(n):
            ws = f.WorkspaceFactory()
            f.MembershipFactory(workspace=ws, user=owner, role=Role.VIEWER)
            f.ProjectFactory(workspace=ws)
            f.RunFactory(experiment=experiment, status=RunStatus.RUNNING)
            f.RunFactory(experiment=experiment, status=RunStatus.FAILED)

    _assert_constant(web_client_for("owner"), "/", grow)


def test_workspace_detail_queries_constant(web_client_for, ws, experiment):
    def grow(n):
        for _ in range(n):
            p = f.ProjectFactory(workspace=ws)
            f.ExperimentFactory(project=p)
            f.MembershipFactory(workspace=ws, user=f.UserFactory())
            f.RunFactory(experiment=experiment)

    _assert_constant(web_client_for("viewer"), "/w/lab/", grow)


def test_members_page_queries_constant(web_client_for, ws):
    def grow(n):
        for _ in range(n):
            f.MembershipFactory(workspace=ws, user=f.UserFactory())

    _assert_constant(web_client_for("owner"), "/w/lab/members/", grow)


def test_project_detail_queries_constant(web_client_for, project):
    def grow(n):
        for _ in range(n):
            e = f.ExperimentFactory(project=project, git_commit="abc123")
            f.RunFactory(experiment=e)

    _assert_constant(web_client_for("editor"), "/w/lab/p/qm9/", grow)


def test_experiment_runs_table_queries_constant(web_client_for, experiment, owner):
    def grow(n):
        for _ in range(n):
            f.RunFactory(experiment=experiment, results={"mae": 0.1}, launched_by=owner, status=RunStatus.SUCCEEDED)

    client = web_client_for("viewer")
    _assert_constant(client, "/w/lab/p/qm9/e/baseline/", grow)
    _assert_constant(client, "/w/lab/p/qm9/e/baseline/?status=succeeded", grow)


def test_run_detail_queries_constant(web_client_for, run):
    state = {"n": 0}

    def grow(n):
        for _ in range(n):
            state["n"] += 1
            execution = f.ExecutionFactory(run=run, number=state["n"])
            f.TaskExecutionFactory(execution=execution)
            f.TaskExecutionFactory(execution=execution)
            f.RunEventFactory(run=run, execution=execution)
            f.MetricFactory(run=run, execution=execution, key=f"loss{state['n']}", step=1)
            f.MetricFactory(run=run, execution=execution, key=f"loss{state['n']}", step=2, value=0.25)

    _assert_constant(web_client_for("viewer"), run.get_absolute_url(), grow)
