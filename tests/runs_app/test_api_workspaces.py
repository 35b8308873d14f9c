"""Workspaces over the API: the creator becomes owner, each row carries the caller's role."""

from __future__ import annotations

import pytest

from runs_app.choices import Role
from runs_app.models import Membership, Workspace


def test_create_makes_the_caller_owner(api_client_for, ws):
    response = api_client_for("viewer").post(
        "/api/workspaces/", {"name": "Viewer's lab", "description": "mine"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "viewers-lab"
    assert body["role"] == "owner"
    assert body["project_count"] == 0
    workspace = Workspace.objects.get(pk=body["id"])
    assert Membership.objects.get(workspace=workspace).user.username == "viewer"
    assert Membership.objects.get(workspace=workspace).role == Role.OWNER


def test_create_with_explicit_slug(api_client_for, ws):
    response = api_client_for("owner").post("/api/workspaces/", {"name": "Two", "slug": "two"}, format="json")
    assert response.status_code == 201
    assert response.json()["slug"] == "two"


def test_duplicate_slug_is_a_field_error(api_client_for, ws):
    response = api_client_for("owner").post("/api/workspaces/", {"name": "Again", "slug": "lab"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "slug" in body and "already taken" in body["detail"]


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": ["a"]}, {"name": "ok", "slug": "Not A Slug"}],
    ids=["missing", "empty", "blank", "too-long", "list", "bad-slug"],
)
def test_invalid_create_bodies_are_400(api_client_for, ws, body):
    response = api_client_for("owner").post("/api/workspaces/", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"]


@pytest.mark.parametrize(("role", "expected"), [("owner", "owner"), ("editor", "editor"), ("viewer", "viewer")])
def test_list_and_detail_report_the_callers_role(api_client_for, ws, role, expected):
    client = api_client_for(role)
    listed = client.get("/api/workspaces/").json()["results"]
    assert [(w["slug"], w["role"]) for w in listed] == [("lab", expected)]
    assert client.get(f"/api/workspaces/{ws.pk}/").json()["role"] == expected


def test_workspace_fields(api_client_for, ws, project):
    body = api_client_for("viewer").get(f"/api/workspaces/{ws.pk}/").json()
    assert set(body) == {"id", "name", "slug", "description", "created_by", "created_at", "project_count", "role",
                         "storage_quota_bytes", "archived_at"}  # fmt: skip
    assert body["project_count"] == 1 and body["storage_quota_bytes"] is None  # SPEC §14: no bound by default


def test_staff_counts_as_owner(staff, ws):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff)
    assert client.get(f"/api/workspaces/{ws.pk}/").json()["role"] == "owner"
