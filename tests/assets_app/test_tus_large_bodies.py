"""PATCH bodies large enough to be hashed in the helper thread (``BackgroundDigest``) and to start the
partial's writeback: the SHA-256, the checksum extension and resumes across PATCHes are unchanged."""

from __future__ import annotations

import hashlib
import os

import pytest

from assets_app.models import Asset, Upload
from assets_app.services import upload_partials

from .test_tus_protocol import as_editor, create, media, new_upload, patch, sha256_header  # noqa: F401

MIB = 1024 * 1024


@pytest.fixture
def small_writeback(monkeypatch):
    monkeypatch.setattr(upload_partials, "WRITEBACK_EVERY", MIB)  # exercise the writeback hint too


def test_large_checksummed_patches_publish_the_right_sha256(as_editor, ws, media, small_writeback):  # noqa: F811
    data = os.urandom(9 * MIB + 123)
    location = new_upload(as_editor, ws, data)
    cut = 5 * MIB
    assert upload_partials.BACKGROUND_HASH_MIN <= cut
    first = patch(as_editor, location, data[:cut], 0, HTTP_UPLOAD_CHECKSUM=sha256_header(data[:cut]))
    assert first.status_code == 204 and first["Upload-Offset"] == str(cut)
    upload_partials._hash_cache_drop(Upload.objects.get().pk)  # the next PATCH rehashes the prefix from disk
    last = patch(as_editor, location, data[cut:], cut, HTTP_UPLOAD_CHECKSUM=sha256_header(data[cut:], "md5"))
    assert last.status_code == 204, last.content
    asset = Asset.objects.get()
    assert asset.sha256 == hashlib.sha256(data).hexdigest() and asset.size == len(data)
    with asset.file.open("rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == asset.sha256


def test_a_large_chunk_that_fails_its_checksum_is_discarded(as_editor, ws, media, small_writeback):  # noqa: F811
    data = os.urandom(6 * MIB)
    location = new_upload(as_editor, ws, data)
    bad = patch(as_editor, location, data, 0, HTTP_UPLOAD_CHECKSUM=sha256_header(data[:-1]))
    assert bad.status_code == 460
    upload = Upload.objects.get()
    assert upload.offset == 0 and (media / upload.partial_name).stat().st_size == 0
    good = patch(as_editor, location, data, 0, HTTP_UPLOAD_CHECKSUM=sha256_header(data))
    assert good.status_code == 204
    assert Asset.objects.get().sha256 == hashlib.sha256(data).hexdigest()


def test_an_error_in_the_helper_reaches_the_request_and_never_blocks_it():
    class FailingDigest:
        def update(self, data):
            raise OSError("disk went away")

    hasher = upload_partials.BackgroundDigest([FailingDigest()], 20 * MIB)
    for _ in range(20):  # more pieces than the queue holds: the helper keeps draining after the error
        hasher.update(b"x" * MIB)
    with pytest.raises(OSError, match="disk went away"):
        hasher.close()
