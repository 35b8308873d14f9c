"""Retention policies (SPEC §14): candidates, preview, set (audited), apply by the maintenance (audited),
shared bytes never freed (through blob_gc), 410 on download, API and page with roles."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from assets_app import services, storage
from assets_app.models import Asset, AssetAlias
from assets_app.tasks import retention_apply_enabled_task
from molexp_site.errors import Conflict
from runs_app.choices import AuditAction, RunStatus
from runs_app.models import AuditEvent, RetentionPolicy
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": settings.MEDIA_ROOT}},
    }  # fmt: skip
    Path(settings.MEDIA_ROOT).mkdir()


def _finished_run(experiment, *, days_ago: float, **kwargs):
    end = timezone.now() - timedelta(days=days_ago)
    return f.RunFactory(experiment=experiment, status=RunStatus.SUCCEEDED, finished_at=end, **kwargs)


def _save(run, kind: str, name: str, data: bytes):
    return services.asset_create(kind=kind, name=name, run=run, blob=services.blob_store_bytes(data))


@pytest.fixture
def history(media, experiment):
    """An old run (logs, an artifact, 4 checkpoints), an old run tagged keep, and a recent run."""
    old = _finished_run(experiment, days_ago=40)
    kept = _finished_run(experiment, days_ago=40, tags=["keep"])
    recent = _finished_run(experiment, days_ago=1)
    rows = {
        "old_artifact": _save(old, "artifact", "model.bin", b"old model " * 100),
        "old_log": _save(old, "log", "train.log", b"epoch 1 loss 0.5\n" * 20),
        "old_ck": [_save(old, "checkpoint", "ckpt", f"ck{i} ".encode() * 50) for i in range(4)],
        "kept_artifact": _save(kept, "artifact", "model.bin", b"kept model " * 100),
        "recent_artifact": _save(recent, "artifact", "model.bin", b"recent " * 100),
        "recent_ck": [_save(recent, "checkpoint", "ckpt", f"r{i} ".encode() * 50) for i in range(3)],
    }
    rows.update(old=old, kept=kept, recent=recent)
    return rows


def test_candidates_follow_both_rules_and_spare_keep_and_aliases(history, ws, editor):
    AssetAlias.objects.create(asset=history["old_ck"][0], workspace=ws, scope_key=history["old_ck"][0].scope_key,
                              kind="checkpoint", name="ckpt", alias="paper")  # fmt: skip
    ids = set(
        services.retention_candidates(workspace_id=ws.pk, keep_last_checkpoints=2, remove_after_days=30).values_list(
            "id", flat=True
        )
    )
    expected = {
        history["old_artifact"].pk,
        history["old_log"].pk,
        history["old_ck"][1].pk,  # the two oldest checkpoints of the old run go; #0 has an alias
        history["recent_ck"][0].pk,  # the recent run keeps its 2 newest of 3
    }
    assert ids == expected


def test_preview_counts_and_bytes_and_writes_nothing(history, ws, owner, editor):
    preview = services.retention_preview(user=owner, workspace=ws, keep_last_checkpoints=1, remove_after_days=30)
    old_ck = history["old_ck"][:3]
    recent_ck = history["recent_ck"][:2]
    assert preview.checkpoints == 5 and preview.checkpoint_bytes == sum(a.size for a in old_ck + recent_ck)
    assert preview.run_files == 2
    assert preview.run_file_bytes == history["old_artifact"].size + history["old_log"].size
    assert preview.count == 7 and preview.bytes == preview.checkpoint_bytes + preview.run_file_bytes
    assert not Asset.objects.filter(retention_removed_at__isnull=False).exists()
    with pytest.raises(PermissionDenied):
        services.retention_preview(user=editor, workspace=ws, keep_last_checkpoints=1, remove_after_days=None)
    with pytest.raises(ValidationError):
        services.retention_preview(user=owner, workspace=ws, keep_last_checkpoints=-1, remove_after_days=None)


def test_policy_set_is_owner_only_and_audited(ws, owner, editor, outsider):
    with pytest.raises(PermissionDenied):
        services.retention_policy_set(user=editor, workspace=ws, enabled=True, keep_last_checkpoints=1,
                                      remove_after_days=None)  # fmt: skip
    with pytest.raises(Http404):
        services.retention_policy_set(user=outsider, workspace=ws, enabled=True, keep_last_checkpoints=1,
                                      remove_after_days=None)  # fmt: skip
    services.retention_policy_set(user=owner, workspace=ws, enabled=False, keep_last_checkpoints=3, remove_after_days=9)
    services.retention_policy_set(user=owner, workspace=ws, enabled=False, keep_last_checkpoints=3, remove_after_days=9)
    services.retention_policy_set(user=owner, workspace=ws, enabled=True, keep_last_checkpoints=3, remove_after_days=9)
    events = AuditEvent.objects.filter(action=AuditAction.RETENTION_SET, workspace=ws).order_by("id")
    assert events.count() == 2  # the unchanged save recorded nothing
    assert events.last().details["previous"]["enabled"] is False and events.last().details["policy"]["enabled"]


def test_disabled_policy_removes_nothing(history, ws, owner):
    services.retention_policy_set(user=owner, workspace=ws, enabled=False, keep_last_checkpoints=0, remove_after_days=0)
    assert retention_apply_enabled_task() == {"workspaces": 0, "removed": 0, "bytes": 0}
    assert not Asset.objects.filter(retention_removed_at__isnull=False).exists()


def test_maintenance_applies_enabled_policy_records_each_removal_and_is_idempotent(history, ws, owner, web_client_for):
    preview = services.retention_preview(user=owner, workspace=ws, keep_last_checkpoints=2, remove_after_days=30)
    services.retention_policy_set(user=owner, workspace=ws, enabled=True, keep_last_checkpoints=2, remove_after_days=30)
    totals = retention_apply_enabled_task()
    assert totals == {"workspaces": 1, "removed": preview.count, "bytes": preview.bytes}
    removed = Asset.objects.filter(retention_removed_at__isnull=False)
    assert removed.count() == preview.count
    assert all(a.file.name == "" and a.size > 0 and a.sha256 for a in removed)  # the record stays
    assert history["old_log"].pk in set(removed.values_list("id", flat=True))
    assert Asset.objects.get(pk=history["old_log"].pk).search_text == "train.log"
    events = AuditEvent.objects.filter(action=AuditAction.RETENTION_REMOVE, workspace=ws)
    assert sorted(int(e) for e in events.values_list("object_id", flat=True)) == sorted(a.pk for a in removed)
    assert retention_apply_enabled_task()["removed"] == 0  # nothing left to remove
    assert RetentionPolicy.objects.get(workspace=ws).last_applied_at is not None
    download = web_client_for("viewer").get(f"/assets/{history['old_artifact'].pk}/download/")
    assert download.status_code == 410 and b"retention" in download.content
    kept = web_client_for("viewer").get(f"/assets/{history['kept_artifact'].pk}/download/")
    assert kept.status_code == 200


def test_shared_bytes_are_never_freed_only_unreferenced_ones(media, experiment, ws, owner):
    shared, alone = b"same weights " * 400, b"only here " * 300
    old = _finished_run(experiment, days_ago=90)
    other = _finished_run(experiment, days_ago=90, tags=["keep"])
    doomed = _save(old, "artifact", "w.bin", shared)
    survivor = _save(other, "artifact", "w.bin", shared)
    lonely = _save(old, "artifact", "x.bin", alone)
    services.retention_policy_set(user=owner, workspace=ws, enabled=True, keep_last_checkpoints=None,
                                  remove_after_days=30)  # fmt: skip
    assert services.retention_apply(workspace_id=ws.pk)[0] == 2
    time.sleep(2.1)
    report = services.blob_gc(grace_seconds=1)
    assert report.kinds["blobs"] == {"objects": 1, "bytes": len(alone)}
    names = {o.name for o in storage.walk("blobs/")}
    assert survivor.file.name in names and lonely.file.name not in names
    survivor.refresh_from_db()
    assert hashlib.sha256(survivor.read_bytes()).hexdigest() == survivor.sha256
    assert Asset.objects.get(pk=doomed.pk).retention_removed_at is not None


def test_usage_no_longer_counts_removed_versions(history, ws, owner, api_client_for):
    before = api_client_for("owner").get(f"/api/workspaces/{ws.pk}/usage/").json()["workspace"]["logical_bytes"]
    services.retention_policy_set(user=owner, workspace=ws, enabled=True, keep_last_checkpoints=None,
                                  remove_after_days=30)  # fmt: skip
    _, freed = services.retention_apply(workspace_id=ws.pk)
    after = api_client_for("owner").get(f"/api/workspaces/{ws.pk}/usage/").json()["workspace"]["logical_bytes"]
    assert freed > 0 and after == before - freed


# --- API ------------------------------------------------------------------------------


def test_api_retention_get_put_preview(api_client_for, history, ws):
    owner = api_client_for("owner")
    url = f"/api/workspaces/{ws.pk}/retention/"
    assert owner.get(url).json()["enabled"] is False
    preview = owner.post(url + "preview/", {"keep_last_checkpoints": 1}, format="json")
    assert preview.status_code == 200 and preview.json()["checkpoints"] == 5 and preview.json()["run_files"] == 0
    assert len(preview.json()["sample"]) == 5
    saved = owner.put(url, {"enabled": True, "keep_last_checkpoints": 1, "remove_after_days": None}, format="json")
    assert saved.status_code == 200 and saved.json()["enabled"] and saved.json()["preview"]["count"] == 5
    assert owner.get(url).json()["keep_last_checkpoints"] == 1
    assert not Asset.objects.filter(retention_removed_at__isnull=False).exists()  # the maintenance applies it


@pytest.mark.parametrize(("role", "status"), [("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_api_retention_refused_below_owner(api_client_for, ws, role, status):
    client = api_client_for(role)
    url = f"/api/workspaces/{ws.pk}/retention/"
    assert client.get(url).status_code == status
    assert client.put(url, {"enabled": True, "keep_last_checkpoints": 0}, format="json").status_code == status
    assert client.post(url + "preview/", {"keep_last_checkpoints": 0}, format="json").status_code == status
    assert not RetentionPolicy.objects.exists()


@pytest.mark.parametrize("body", [{"enabled": True, "keep_last_checkpoints": -1}, {"enabled": "x"},
                                  {"enabled": True, "remove_after_days": "soon"}, {}])  # fmt: skip
def test_api_retention_bad_input_is_400(api_client_for, ws, body):
    assert api_client_for("owner").put(f"/api/workspaces/{ws.pk}/retention/", body, format="json").status_code == 400
    assert not RetentionPolicy.objects.exists()


# --- page -----------------------------------------------------------------------------


def test_page_enabling_needs_the_preview_confirmed(web_client_for, history, ws):
    owner = web_client_for("owner")
    url = "/w/lab/retention/"
    assert owner.get(url).status_code == 200
    body = {"enabled": "on", "keep_last_checkpoints": "1", "remove_after_days": "", "action": "save"}
    first = owner.post(url, body)
    assert first.status_code == 200 and "Confirm" in first.content.decode()
    assert not RetentionPolicy.objects.exists()
    assert "<strong>5</strong> versions" in " ".join(first.content.decode().split())
    changed = owner.post(url, {**body, "keep_last_checkpoints": "2", "confirm": "1|None"})  # not what was previewed
    assert changed.status_code == 200 and not RetentionPolicy.objects.exists()
    saved = owner.post(url, {**body, "confirm": "1|None"})
    assert saved.status_code == 302
    policy = RetentionPolicy.objects.get(workspace=ws)
    assert policy.enabled and policy.keep_last_checkpoints == 1 and policy.remove_after_days is None


def test_page_roles_and_bad_input(web_client_for, ws):
    assert web_client_for("editor").get("/w/lab/retention/").status_code == 403
    assert web_client_for("viewer").post("/w/lab/retention/", {"action": "save"}).status_code == 403
    assert web_client_for("outsider").get("/w/lab/retention/").status_code == 404
    bad = web_client_for("owner").post("/w/lab/retention/", {"keep_last_checkpoints": "-3", "action": "save"})
    assert bad.status_code == 400 and not RetentionPolicy.objects.exists()


@pytest.mark.parametrize("size", [2, 10])
def test_page_and_preview_query_counts_are_constant(web_client_for, media, experiment, ws, size,
                                                     django_assert_max_num_queries):  # fmt: skip
    for _ in range(size):
        run = _finished_run(experiment, days_ago=50)
        for i in range(3):
            _save(run, "checkpoint", "ckpt", f"{run.pk}-{i}".encode())
    client = web_client_for("owner")
    with django_assert_max_num_queries(12):
        response = client.post(
            "/w/lab/retention/", {"keep_last_checkpoints": "1", "remove_after_days": "30", "action": "preview"}
        )
    assert response.status_code == 200


# --- archived scopes refuse new data (SPEC §14: archived is read-only) ---------------------------


def test_uploads_and_library_imports_into_an_archived_scope_are_409(api_client_for, media, ws, project, owner,
                                                                     settings, tmp_path):  # fmt: skip
    import base64

    from runs_app.services import project_update

    settings.MOLEXP_UPLOAD_DIR = str(tmp_path / "uploads")
    project_update(user=owner, project=project, archived=True)
    project.refresh_from_db()

    def meta(**pairs):
        return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())

    response = api_client_for("editor").post(
        "/api/uploads/", HTTP_UPLOAD_LENGTH="10", HTTP_TUS_RESUMABLE="1.0.0",
        HTTP_UPLOAD_METADATA=meta(filename="a.csv", workspace=str(ws.pk), project=str(project.pk)),
    )  # fmt: skip
    assert response.status_code == 409 and "archived" in response.json()["detail"]
    source = tmp_path / "x.csv"
    source.write_bytes(b"a,b\n")
    with pytest.raises(Conflict):
        services.data_asset_upload(user=owner, project=project, name="x.csv", fileobj=source.open("rb"))
    assert not Asset.objects.filter(project=project).exists()
