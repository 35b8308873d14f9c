"""An external run's files (artifacts and checkpoint files) have one upload path: the tus endpoint
(SPEC §13), with Upload-Metadata ``run`` (and ``checkpoint`` + ``data`` for a checkpoint)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from rest_framework.test import APIClient

from assets_app.models import Asset, Upload

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


@pytest.fixture
def api(editor):
    client = APIClient()
    client.force_authenticate(editor)
    return client


@pytest.fixture
def run_id(db, api, ws, project):
    body = {"experiment": f"{ws.slug}/{project.slug}/ext", "run_uuid": str(uuid.uuid4()), "create_experiment": True}
    return api.post("/api/external/runs/", body, format="json").json()["id"]


def _meta(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def _upload(api, body: bytes, **pairs: str):
    created = api.post("/api/uploads/", HTTP_UPLOAD_LENGTH=str(len(body)), HTTP_UPLOAD_METADATA=_meta(**pairs), **TUS)
    if created.status_code != 201:
        return created
    return api.generic("PATCH", created["Location"], body, content_type="application/offset+octet-stream",
                       HTTP_UPLOAD_OFFSET="0", **TUS)  # fmt: skip


def test_a_checkpoint_file_over_tus_is_a_chained_checkpoint(api, run_id):
    assert api.post(f"/api/external/runs/{run_id}/checkpoints/", {"name": "epoch-1", "data": {"epoch": 1}, "seq": 1},
                    format="json").status_code == 201  # fmt: skip
    done = _upload(api, b"weights", filename="w.bin", name="epoch-2", run=str(run_id), checkpoint="1",
                   data=json.dumps({"epoch": 2}), tags="best")  # fmt: skip
    assert done.status_code == 204, done.content
    first, second = (a.as_kind() for a in Asset.objects.filter(run_id=run_id, kind="checkpoint").order_by("id"))
    assert (second.name, second.data, second.tags, second.size) == ("epoch-2", {"epoch": 2}, ["best"], 7)
    assert second.parent_id == first.pk and second.producer_execution_id is not None
    assert Upload.objects.get().asset_id == second.pk


@pytest.mark.parametrize(
    "pairs",
    [
        {"checkpoint": "1", "data": "{not json"},
        {"metadata": "[unclosed"},
    ],
)
def test_bad_checkpoint_metadata_is_refused_before_any_byte(api, run_id, pairs):
    response = _upload(api, b"x", filename="w.bin", run=str(run_id), **pairs)
    assert response.status_code == 400, response.content
    assert not Upload.objects.exists() and not Asset.objects.filter(run_id=run_id).exists()


def test_a_checkpoint_upload_needs_a_run(api, ws):
    response = _upload(api, b"x", filename="w.bin", workspace=str(ws.pk), checkpoint="1")
    assert response.status_code == 400 and "checkpoint" in response.json()
    assert not Upload.objects.exists()


def test_the_checkpoints_endpoint_takes_no_file(api, run_id):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api.post(f"/api/external/runs/{run_id}/checkpoints/",
                        {"name": "c", "file": SimpleUploadedFile("w.bin", b"x")}, format="multipart")  # fmt: skip
    assert response.status_code == 400 and "tus" in str(response.json())
    assert not Asset.objects.filter(run_id=run_id).exists()
    assert api.post(f"/api/external/runs/{run_id}/artifacts/", {}, format="json").status_code == 404
