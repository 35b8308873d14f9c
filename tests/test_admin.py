"""The Django admin lists every model of both apps for a staff superuser."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from tests import factories as f

pytestmark = pytest.mark.django_db

MODELS = [
    ("runs_app", "workspace"), ("runs_app", "membership"), ("runs_app", "project"), ("runs_app", "experiment"),
    ("runs_app", "run"), ("runs_app", "execution"), ("runs_app", "taskexecution"), ("runs_app", "runevent"),
    ("runs_app", "metric"), ("runs_app", "sourceblob"), ("assets_app", "asset"), ("assets_app", "dataasset"),
    ("assets_app", "artifactasset"), ("assets_app", "logasset"), ("assets_app", "checkpointasset"),
    ("assets_app", "errortraceasset"), ("assets_app", "assetuse"),
]  # fmt: skip


@pytest.fixture
def admin_client_with_data(client, run, ws):
    superuser = f.UserFactory(username="root", is_staff=True, is_superuser=True)
    execution = f.ExecutionFactory(run=run, number=1)
    f.TaskExecutionFactory(execution=execution)
    f.RunEventFactory(run=run, execution=execution)
    f.MetricFactory(run=run)
    f.AssetUseFactory(asset=f.AssetFactory(workspace=ws, producer_run=run), run=run, execution=execution)
    client.force_login(superuser)
    return client


def test_every_model_is_registered():
    registered = {(m._meta.app_label, m._meta.model_name) for m in admin.site._registry}
    assert set(MODELS) - registered <= {("runs_app", "taskexecution")}  # edited inline under Execution


@pytest.mark.parametrize(("app", "model"), [m for m in MODELS if m[1] != "taskexecution"])
def test_changelist_renders(admin_client_with_data, app, model):
    response = admin_client_with_data.get(reverse(f"admin:{app}_{model}_changelist"))
    assert response.status_code == 200


def test_run_and_execution_change_pages_render_with_inlines(admin_client_with_data, run):
    execution = run.executions.get()
    assert admin_client_with_data.get(reverse("admin:runs_app_run_change", args=[run.pk])).status_code == 200
    assert (
        admin_client_with_data.get(reverse("admin:runs_app_execution_change", args=[execution.pk])).status_code == 200
    )
    assert (
        admin_client_with_data.get(reverse("admin:runs_app_workspace_change", args=[run.workspace_id])).status_code
        == 200
    )


def test_run_events_are_read_only(admin_client_with_data):
    assert admin_client_with_data.get(reverse("admin:runs_app_runevent_add")).status_code == 403
