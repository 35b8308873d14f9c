"""Runs over the API: flat filtered list, full detail with executions, and the history of attempts."""

from __future__ import annotations

import pytest

from runs_app.services import status_transition
from tests import factories as f

LIST_FIELDS = {
    "id", "number", "status", "params", "profile", "config_hash", "fingerprint", "results",
    "experiment", "experiment_name", "project", "project_name", "workspace", "workspace_name",
    "launched_by", "created_at", "started_at", "finished_at", "tags", "notes", "sweep_id",
}  # fmt: skip
PINNED = {"number", "status", "params", "profile", "config", "config_hash", "results", "error", "workflow_snapshot"}


@pytest.fixture
def attempted_run(run):
    """A run that was launched, lost and retried: two executions with tasks, and its events."""
    first = f.ExecutionFactory(run=run, number=1, trigger="launch")
    f.TaskExecutionFactory(execution=first, task_name="featurize", status="succeeded")
    status_transition(obj=run, to_status="queued", message="launched")
    status_transition(obj=run, to_status="running")
    status_transition(obj=first, to_status="running")
    status_transition(obj=first, to_status="lost", message="no heartbeat")
    status_transition(obj=run, to_status="lost")
    second = f.ExecutionFactory(run=run, number=2, trigger="retry")
    f.TaskExecutionFactory(execution=second, task_name="featurize", status="succeeded", reused=True)
    f.TaskExecutionFactory(execution=second, task_name="train")
    status_transition(obj=run, to_status="queued", message="retry 1")
    return run


def test_list_rows_are_flat(api_client_for, attempted_run):
    body = api_client_for("viewer").get("/api/runs/").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert set(row) == LIST_FIELDS
    assert row["experiment_name"] == "Baseline" and row["workspace_name"] == "Lab"


def test_detail_has_pinned_fields_and_nested_executions(api_client_for, attempted_run):
    attempted_run.error = {"type": "ValueError", "message": "m", "task": "train", "execution": 2}
    attempted_run.params = {"lr": 0.1}
    attempted_run.save()
    body = api_client_for("viewer").get(f"/api/runs/{attempted_run.pk}/").json()
    assert PINNED <= set(body)
    assert {"executions", "experiment", "project", "workspace", "created_at", "started_at", "finished_at"} <= set(body)
    assert body["params"] == {"lr": 0.1} and body["config"] == {"lr": 0.1}
    assert body["error"]["type"] == "ValueError"
    assert [(e["number"], e["trigger"], e["status"]) for e in body["executions"]] == [
        (1, "launch", "lost"),
        (2, "retry", "queued"),
    ]
    assert [(t["task_name"], t["reused"]) for t in body["executions"][1]["task_executions"]] == [
        ("featurize", True),
        ("train", False),
    ]


def test_history_lists_executions_and_ordered_events(api_client_for, attempted_run):
    body = api_client_for("viewer").get(f"/api/runs/{attempted_run.pk}/history/").json()
    assert body["run"] == attempted_run.pk and body["status"] == "queued"
    assert [e["number"] for e in body["executions"]] == [1, 2]
    assert len(body["executions"][0]["task_executions"]) == 1
    transitions = [(e["subject"], e["from_status"], e["to_status"]) for e in body["events"]]
    assert transitions == [
        ("run", "pending", "queued"),
        ("run", "queued", "running"),
        ("execution", "queued", "running"),
        ("execution", "running", "lost"),
        ("run", "running", "lost"),
        ("run", "lost", "queued"),
    ]
    assert body["events"][0]["message"] == "launched"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", [2]),
        ("status=pending", [3, 1]),
        ("profile=gpu", [3]),
        ("config_hash=" + "a" * 64, [1]),
        ("experiment={other_exp}", [3]),
        ("project={project}", [3, 2, 1]),
        ("workspace={ws}", [3, 2, 1]),
        ("experiment={experiment}&status=pending", [1]),
    ],
)
def test_list_filters(api_client_for, ws, project, experiment, query, expected):
    other = f.ExperimentFactory(project=project, name="Other")
    f.RunFactory(experiment=experiment, number=1, config_hash="a" * 64)
    f.RunFactory(experiment=experiment, number=2, status="failed")
    f.RunFactory(experiment=other, number=3, profile="gpu")
    query = query.format(other_exp=other.pk, project=project.pk, ws=ws.pk, experiment=experiment.pk)
    body = api_client_for("viewer").get(f"/api/runs/?{query}").json()
    assert [r["number"] for r in body["results"]] == expected


def test_filter_on_foreign_experiment_returns_nothing(api_client_for, run, outsider):
    body = api_client_for("outsider").get(f"/api/runs/?experiment={run.experiment_id}").json()
    assert body == {"count": 0, "count_capped": False, "next": None, "previous": None, "results": []}


def test_list_is_paginated(api_client_for, experiment):
    for number in range(1, 4):
        f.RunFactory(experiment=experiment, number=number)
    body = api_client_for("viewer").get("/api/runs/?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"] and body["previous"] is None
    second = api_client_for("viewer").get("/api/runs/?page_size=2&page=2").json()
    assert [r["number"] for r in second["results"]] == [1]
