"""The periodic sweeper: expired uploads lose their partial and are marked expired; orphan parts go too."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from assets_app.choices import UploadStatus
from assets_app.models import Asset, Upload
from assets_app.services import upload_append, upload_create, upload_sweep_expired
from assets_app.tasks import upload_sweep_expired_task


@pytest.fixture
def media(settings, tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


class Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int) -> bytes:
        out, self.data = self.data[:n], self.data[n:]
        return out


def started_upload(editor, ws, sent: bytes = b"abc") -> Upload:
    upload = upload_create(user=editor, length=100, metadata={"filename": "a.bin", "workspace": str(ws.pk)})
    return upload_append(user=editor, pk=upload.pk, offset=0, stream=Body(sent), content_length=len(sent))


def test_expired_upload_is_marked_and_its_partial_removed(editor, ws, media):
    stale = started_upload(editor, ws)
    fresh = started_upload(editor, ws)
    Upload.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    stale_part = media / stale.partial_name
    assert stale_part.exists()

    assert upload_sweep_expired() == {"expired": 1, "orphans": 0}
    stale.refresh_from_db()
    assert stale.status == UploadStatus.EXPIRED and stale.partial_name == "" and not stale_part.exists()
    fresh.refresh_from_db()
    assert fresh.status == UploadStatus.RECEIVING and (media / fresh.partial_name).exists()
    assert not Asset.objects.exists()
    # an expired upload accepts nothing more
    from assets_app.services import UploadGone

    with pytest.raises(UploadGone):
        upload_append(user=editor, pk=stale.pk, offset=3, stream=Body(b"d"), content_length=1)


def test_each_patch_extends_the_expiry(editor, ws, media):
    upload = started_upload(editor, ws)
    Upload.objects.filter(pk=upload.pk).update(expires_at=timezone.now() + timedelta(seconds=5))
    upload = upload_append(user=editor, pk=upload.pk, offset=3, stream=Body(b"d"), content_length=1)
    assert upload.expires_at > timezone.now() + timedelta(hours=django_settings.MOLEXP_UPLOAD_EXPIRY_HOURS - 1)


def test_orphan_part_files_older_than_the_expiry_are_removed(editor, ws, media):
    owned = started_upload(editor, ws)
    uploads = media / "uploads"
    old_orphan = uploads / ("a" * 32 + ".part")
    new_orphan = uploads / ("b" * 32 + ".part")
    (media / "tmp").mkdir(exist_ok=True)
    old_tmp = media / "tmp" / "tmpxyz.part"
    for path in (old_orphan, new_orphan, old_tmp):
        path.write_bytes(b"left behind by a killed worker")
    long_ago = time.time() - 2 * 24 * 3600
    for path in (old_orphan, old_tmp, media / owned.partial_name):
        os.utime(path, (long_ago, long_ago))

    assert upload_sweep_expired() == {"expired": 0, "orphans": 2}
    assert not old_orphan.exists() and not old_tmp.exists()
    assert new_orphan.exists()
    assert (media / owned.partial_name).exists()  # still receiving and not expired: kept


def test_the_maintenance_task_runs_the_sweep_and_is_scheduled(editor, ws, media):
    upload = started_upload(editor, ws)
    Upload.objects.filter(pk=upload.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert upload_sweep_expired_task.name == "assets.maintenance"
    assert upload_sweep_expired_task.apply().get() == {"expired": 1, "orphans": 0}
    schedule = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "assets.maintenance" in schedule
