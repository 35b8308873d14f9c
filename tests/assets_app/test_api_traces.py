"""/api/traces/: error traces grouped by fingerprint, permission-filtered, paginated."""

from __future__ import annotations

import pytest

from . import search_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(ws, project, experiment, other_ws, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(tmp_path)}},
    }
    return search_data.build(ws, project, experiment, other_ws)


def test_groups_by_fingerprint(api_client_for, data):
    assets, runs = data
    body = api_client_for("viewer").get("/api/traces/").json()
    assert body["count"] == 2
    groups = {g["exception_type"]: g for g in body["results"]}
    cuda = groups["torch.cuda.OutOfMemoryError"]
    assert cuda["count"] == 2 and cuda["run_count"] == 2
    assert cuda["fingerprint"] == assets["t_base"].fingerprint
    assert cuda["message"] == "CUDA out of memory."
    assert {r["id"] for r in cuda["runs"]} == {runs["failed"].pk, runs["md"].pk}
    assert cuda["first_seen"] <= cuda["last_seen"]
    assert groups["ValueError"]["count"] == 1


def test_filters_and_query(api_client_for, data, experiment, project):
    client = api_client_for("viewer")
    body = client.get("/api/traces/", {"experiment": experiment.pk}).json()
    assert [(g["exception_type"], g["count"]) for g in body["results"]] == [("torch.cuda.OutOfMemoryError", 1)]
    body = client.get("/api/traces/", {"project": project.pk}).json()
    assert body["count"] == 2
    body = client.get("/api/traces/", {"q": "smiles"}).json()
    assert [g["exception_type"] for g in body["results"]] == ["ValueError"]


def test_outsider_sees_only_own_groups(api_client_for, data):
    body = api_client_for("outsider").get("/api/traces/").json()
    assert body["count"] == 1
    assert body["results"][0]["count"] == 1  # lab's two CUDA traces are not counted
    assert api_client_for("anonymous").get("/api/traces/").status_code in (401, 403)


def test_bad_query_is_400(api_client_for, data):
    response = api_client_for("viewer").get("/api/traces/", {"q": "(oops"})
    assert response.status_code == 400 and response.json()["position"] == 0


def test_paginated(api_client_for, data):
    body = api_client_for("viewer").get("/api/traces/", {"page_size": 1}).json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"]
