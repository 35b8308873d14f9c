"""Storage use per workspace/project/experiment and the workspace quota (SPEC §14)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from assets_app.models import Asset, Upload
from assets_app.services import asset_create, blob_store_bytes
from molexp_site.errors import QuotaExceeded
from runs_app.models import Workspace
from tests import factories as f

pytestmark = pytest.mark.django_db

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.MOLEXP_UPLOAD_DIR = str(tmp_path / "uploads")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


def _api(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


def _fill(experiment, runs: int) -> None:
    """``runs`` runs of ``experiment``, each with a shared artifact (same bytes) and one of its own."""
    for i in range(runs):
        run = f.RunFactory(experiment=experiment)
        asset_create(kind="artifact", name="shared.bin", run=run, blob=blob_store_bytes(b"s" * 1000))
        asset_create(kind="artifact", name="own.bin", run=run, blob=blob_store_bytes(f"own {i}".encode() * 10))


def test_usage_counts_logical_and_physical_bytes_per_scope(ws, project, experiment, owner):
    other = f.ExperimentFactory(project=project, name="Other", slug="other")
    _fill(experiment, 2)
    _fill(other, 1)
    asset_create(kind="data", name="lib.csv", workspace=ws, blob=blob_store_bytes(b"s" * 1000))  # same bytes again

    body = _api(owner).get(f"/api/workspaces/{ws.pk}/usage/").json()

    own = [len(f"own {i}".encode() * 10) for i in range(2)]
    assert body["workspace"] == {
        "id": ws.pk,
        "logical_bytes": 4 * 1000 + sum(own) + len(b"own 0" * 10),
        "physical_bytes": 1000 + sum(own),  # "own 0" is the same bytes in both experiments
        "storage_quota_bytes": None,
    }
    by_exp = {e["name"]: e for e in body["experiments"]}
    assert (by_exp["Baseline"]["logical_bytes"], by_exp["Baseline"]["physical_bytes"]) == (
        2000 + sum(own),
        1000 + sum(own),
    )
    assert (by_exp["Other"]["logical_bytes"], by_exp["Other"]["physical_bytes"]) == (1000 + own[0], 1000 + own[0])
    [proj] = body["projects"]
    assert (proj["logical_bytes"], proj["physical_bytes"]) == (3000 + sum(own) + own[0], 1000 + sum(own))


@pytest.mark.parametrize(
    ("role", "status"), [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)]
)
def test_usage_is_read_by_members_only(api_client_for, ws, role, status):
    assert api_client_for(role).get(f"/api/workspaces/{ws.pk}/usage/").status_code == status


def test_usage_endpoint_and_panel_query_counts_are_constant(ws, project, experiment, owner, client,
                                                            django_assert_num_queries):  # fmt: skip
    client.force_login(owner)
    api = _api(owner)
    _fill(experiment, 1)
    with django_assert_num_queries(6):
        assert api.get(f"/api/workspaces/{ws.pk}/usage/").status_code == 200
    with django_assert_num_queries(7):
        assert client.get(f"/w/{ws.slug}/usage/").status_code == 200
    for i in range(4):
        _fill(f.ExperimentFactory(project=f.ProjectFactory(workspace=ws), slug=f"e{i}"), 3)
    with django_assert_num_queries(6):
        assert api.get(f"/api/workspaces/{ws.pk}/usage/").status_code == 200
    with django_assert_num_queries(7):
        response = client.get(f"/w/{ws.slug}/usage/")
    assert b"Stored (after deduplication)" in response.content


@pytest.mark.parametrize(
    ("role", "status"), [("owner", 200), ("staff", 200), ("editor", 403), ("viewer", 403), ("outsider", 404)]
)
def test_quota_is_set_by_owners_and_staff(ws, users, staff, role, status):
    user = staff if role == "staff" else users[role]
    response = _api(user).patch(f"/api/workspaces/{ws.pk}/", {"storage_quota_bytes": 5000}, format="json")
    assert response.status_code == status, response.content
    ws.refresh_from_db()
    assert ws.storage_quota_bytes == (5000 if status == 200 else None)
    if status == 200:
        assert response.json()["storage_quota_bytes"] == 5000


@pytest.mark.parametrize("bad", [-1, "lots", 1.5, 2**64])
def test_quota_refuses_bad_values_and_changes_nothing(ws, owner, bad):
    response = _api(owner).patch(f"/api/workspaces/{ws.pk}/", {"storage_quota_bytes": bad}, format="json")
    assert response.status_code == 400
    assert Workspace.objects.get(pk=ws.pk).storage_quota_bytes is None


def test_quota_can_be_removed(ws, owner):
    Workspace.objects.filter(pk=ws.pk).update(storage_quota_bytes=10)
    response = _api(owner).patch(f"/api/workspaces/{ws.pk}/", {"storage_quota_bytes": None}, format="json")
    assert response.status_code == 200 and Workspace.objects.get(pk=ws.pk).storage_quota_bytes is None


def _meta(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def test_tus_upload_past_the_quota_is_refused_at_creation_and_registers_nothing(ws, editor, experiment, settings):
    _fill(experiment, 1)  # 1000 + 50 bytes stored
    Workspace.objects.filter(pk=ws.pk).update(storage_quota_bytes=2000)
    api = _api(editor)

    response = api.post("/api/uploads/", HTTP_UPLOAD_LENGTH="1000", HTTP_UPLOAD_METADATA=_meta(
        filename="big.csv", workspace=str(ws.pk)), **TUS)  # fmt: skip

    assert response.status_code == 413
    assert "Storage quota exceeded" in response.content.decode() and "2.0" in response.content.decode()
    assert Upload.objects.count() == 0
    assert not any(Path(settings.MOLEXP_UPLOAD_DIR).glob("*.part"))
    ok = api.post("/api/uploads/", HTTP_UPLOAD_LENGTH="900", HTTP_UPLOAD_METADATA=_meta(
        filename="small.csv", workspace=str(ws.pk)), **TUS)  # fmt: skip
    assert ok.status_code == 201
    # The upload still receiving counts: a second one cannot overshoot beside it.
    again = api.post("/api/uploads/", HTTP_UPLOAD_LENGTH="100", HTTP_UPLOAD_METADATA=_meta(
        filename="more.csv", workspace=str(ws.pk)), **TUS)  # fmt: skip
    assert again.status_code == 413
    Upload.objects.update(expires_at=timezone.now())  # an expired upload reserves nothing
    assert api.post("/api/uploads/", HTTP_UPLOAD_LENGTH="100", HTTP_UPLOAD_METADATA=_meta(
        filename="more.csv", workspace=str(ws.pk)), **TUS).status_code == 201  # fmt: skip


def test_artifact_save_past_the_quota_is_refused_but_known_bytes_are_free(ws, run):
    asset_create(kind="artifact", name="a.bin", run=run, blob=blob_store_bytes(b"a" * 600))
    Workspace.objects.filter(pk=ws.pk).update(storage_quota_bytes=1000)
    with pytest.raises(QuotaExceeded, match="Storage quota exceeded"):
        asset_create(kind="artifact", name="b.bin", run=run, blob=blob_store_bytes(b"b" * 600))
    assert not Asset.objects.filter(name="b.bin").exists()
    again = asset_create(kind="artifact", name="copy.bin", run=run, blob=blob_store_bytes(b"a" * 600))
    assert again.sha256 == hashlib.sha256(b"a" * 600).hexdigest()  # deduplicated: costs nothing
    asset_create(kind="log", name="task", run=run, blob=blob_store_bytes(b"l" * 600))  # logs are never refused
