"""A crate import past the workspace quota is refused with a clear message and imports nothing (SPEC §14)."""

import io

import pytest

from assets_app.models import Asset
from runs_app.models import AuditEvent, Run, Workspace

from . import crate_support as cs
from .crate_support import export_bytes

_no_broker, chem_experiment, workflow_dir = cs._no_broker, cs.chem_experiment, cs.workflow_dir
finished_run = cs.finished_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_crate_import_past_the_quota_is_400_and_imports_nothing(finished_run, viewer, other_ws, api_client_for):
    crate = export_bytes(finished_run, viewer)
    Workspace.objects.filter(pk=other_ws.pk).update(storage_quota_bytes=1)
    runs, assets = Run.objects.count(), Asset.objects.count()

    response = api_client_for("outsider").post(f"/api/workspaces/{other_ws.pk}/import/", {"file": io.BytesIO(crate)},
                                               format="multipart")  # fmt: skip

    assert response.status_code == 400, response.content
    assert "Storage quota exceeded" in response.content.decode()
    assert (Run.objects.count(), Asset.objects.count()) == (runs, assets)
    assert not AuditEvent.objects.filter(action="crate.import").exists()

    Workspace.objects.filter(pk=other_ws.pk).update(storage_quota_bytes=None)
    ok = api_client_for("outsider").post(f"/api/workspaces/{other_ws.pk}/import/", {"file": io.BytesIO(crate)},
                                         format="multipart")  # fmt: skip
    assert ok.status_code == 201
    event = AuditEvent.objects.get(action="crate.import")
    assert event.actor_name == "outsider" and event.workspace_id == other_ws.pk
