"""An outsider never sees another workspace in the pages: not in lists, not in counts, not by id."""

from __future__ import annotations

import pytest

from runs_app.choices import RunStatus
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab_activity(ws, experiment, other_ws):
    f.RunFactory(experiment=experiment, status=RunStatus.RUNNING, profile="lab-secret-profile")
    f.RunFactory(experiment=experiment, status=RunStatus.FAILED, profile="lab-secret-profile")
    f.AssetFactory(workspace=ws, name="lab-secret.csv")
    elsewhere_project = f.ProjectFactory(workspace=other_ws, name="Outside project")
    f.AssetFactory(workspace=other_ws, name="outside.csv")
    return elsewhere_project


def test_dashboard_shows_only_my_workspaces_and_runs(web_client_for, lab_activity):
    body = web_client_for("outsider").get("/").content.decode()
    assert ">Elsewhere<" in body
    assert ">Lab<" not in body and "/w/lab/" not in body
    assert "lab-secret-profile" not in body
    assert "Baseline" not in body


def test_dashboard_project_counts_cover_only_visible_projects(web_client_for, lab_activity, project):
    response = web_client_for("outsider").get("/")
    counts = {w.name: w.project_count for w in response.context["workspaces"]}
    assert counts == {"Elsewhere": 1}


def test_member_sees_own_workspace_and_not_the_outsiders(web_client_for, lab_activity):
    body = web_client_for("viewer").get("/").content.decode()
    assert ">Lab<" in body
    assert "lab-secret-profile" in body
    assert "Elsewhere" not in body and "/w/elsewhere/" not in body


def test_catalog_hides_other_workspaces_assets_and_filter_options(web_client_for, lab_activity, ws):
    client = web_client_for("outsider")
    body = client.get("/catalog/").content.decode()
    assert "outside.csv" in body
    assert "lab-secret.csv" not in body
    assert ">Lab<" not in body  # not offered as a workspace filter either
    assert "lab-secret.csv" not in client.get(f"/catalog/?workspace={ws.pk}").content.decode()


def test_catalog_total_counts_only_visible_assets(web_client_for, lab_activity):
    response = web_client_for("outsider").get("/catalog/")
    assert response.context["page"].paginator.count == 1


def test_run_status_and_run_by_id_are_invisible_to_outsiders(web_client_for, run):
    client = web_client_for("outsider")
    assert client.get(f"/runs/{run.pk}/").status_code == 404
    assert client.get(f"/runs/{run.pk}/status/").status_code == 404


def test_staff_see_every_workspace(client, staff, lab_activity):
    client.force_login(staff)
    body = client.get("/").content.decode()
    assert ">Lab<" in body and ">Elsewhere<" in body
