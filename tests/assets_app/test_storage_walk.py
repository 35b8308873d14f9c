"""``assets_app.storage.walk`` on the file system (the collector's listing, ``os.scandir`` since session 29):
every object below a folder with its size, temporary files (``.name``) left out, folders entered whatever
their name, a link to a file listed as itself (its own size), a link to a folder neither listed nor entered."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assets_app import storage
from tests.s3_support import storage_backend


@pytest.fixture
def media(request, settings, tmp_path) -> Path:
    storage_backend(request, settings, tmp_path, "fs")
    return Path(settings.MEDIA_ROOT)


def test_the_walk_lists_objects_and_links_to_files_not_temporaries_or_linked_folders(media):
    root = media / "blobs"
    (root / "ab" / "cd").mkdir(parents=True)
    (root / ".staging" / "x").mkdir(parents=True)
    (root / "ef").mkdir()
    (root / "ab" / "cd" / "obj").write_bytes(b"a")
    (root / "ab" / "cd" / ".obj.tmp").write_bytes(b"half")
    (root / ".staging" / "x" / "kept").write_bytes(b"cc")
    (root / "top").write_bytes(b"ddd")
    os.symlink(root / "top", root / "ef" / "to-file")
    os.symlink(root / "ab", root / "ef" / "to-folder")
    os.symlink(media / "nowhere", root / "ef" / "dangling")

    listed = {o.name: o.size for o in storage.walk("blobs/")}

    assert listed == {
        "blobs/.staging/x/kept": 2,
        "blobs/ab/cd/obj": 1,
        "blobs/ef/dangling": os.lstat(root / "ef" / "dangling").st_size,
        "blobs/ef/to-file": os.lstat(root / "ef" / "to-file").st_size,
        "blobs/top": 3,
    }
    assert all(o.modified.tzinfo is not None for o in storage.walk("blobs/"))
    assert list(storage.walk("nothing-here/")) == []
