"""Imports of server files and directories: copy, move, symlink, hardlink (SPEC §3, §6).

A directory becomes one asset whose bytes are a canonical tar archive (sorted
members, mtime 0, no owners), so the same tree always has the same SHA-256.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from assets_app.models import Asset
from assets_app.services import import_actions

pytestmark = pytest.mark.django_db

CSV = b"name,smiles\naspirin,CC(=O)OC1=CC=CC=C1C(=O)O\n"


@pytest.fixture
def store(tmp_path, settings):
    media, root = tmp_path / "media", tmp_path / "import"
    root.mkdir()
    settings.MEDIA_ROOT = str(media)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media)}},
    }
    settings.MOLEXP_IMPORT_ROOTS = [str(root)]
    return root


def _tree(root: Path, name: str = "tree") -> Path:
    d = root / name
    (d / "sub").mkdir(parents=True)
    (d / "a.csv").write_bytes(CSV)
    (d / "sub" / "b.txt").write_bytes(b"hello")
    (d / "empty").mkdir()
    return d


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- files ----------------------------------------------------------------------------------


def test_copy_file_stores_the_bytes_content_addressed(store, ws):
    src = store / "l.csv"
    src.write_bytes(CSV)
    asset = ws.data_assets.import_asset("ligands.csv", src, tags=["raw"])
    assert (asset.sha256, asset.size) == (_sha(CSV), len(CSV))
    assert asset.import_action == "copy" and asset.source_path == str(src.resolve())
    assert asset.file.name == f"blobs/{_sha(CSV)[:2]}/{_sha(CSV)[2:4]}/{_sha(CSV)}"
    assert not os.path.islink(asset.path) and asset.read_bytes() == CSV
    assert src.exists() and asset.media_type == "text/csv"


def test_name_defaults_to_the_source_base_name(store, ws):
    (store / "l.csv").write_bytes(CSV)
    assert ws.data_assets.import_asset("", str(store / "l.csv")).name == "l.csv"


def test_move_file_removes_the_source(store, ws):
    src = store / "l.csv"
    src.write_bytes(CSV)
    inode = src.stat().st_ino
    asset = ws.data_assets.import_asset("ligands.csv", str(src), action="move")
    assert not src.exists()
    assert asset.import_action == "move" and asset.sha256 == _sha(CSV) and asset.read_bytes() == CSV
    assert os.stat(asset.path).st_ino == inode  # renamed, not copied (same file system)


def test_move_across_file_systems_copies_then_removes(store, ws, monkeypatch):
    def cross_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(import_actions, "_rename", cross_device)
    src = store / "l.csv"
    src.write_bytes(CSV)
    asset = ws.data_assets.import_asset("ligands.csv", str(src), action="move")
    assert not src.exists() and asset.read_bytes() == CSV and asset.size == len(CSV)


def test_move_of_known_bytes_keeps_the_version_and_removes_the_source(store, ws):
    (store / "a.csv").write_bytes(CSV)
    v1 = ws.data_assets.import_asset("l.csv", str(store / "a.csv"))
    (store / "b.csv").write_bytes(CSV)
    again = ws.data_assets.import_asset("l.csv", str(store / "b.csv"), action="move")
    assert again.pk == v1.pk and not (store / "b.csv").exists() and again.read_bytes() == CSV


def test_symlink_file_links_to_the_source_and_hashes_it(store, ws, settings):
    src = store / "l.csv"
    src.write_bytes(CSV)
    asset = ws.data_assets.import_asset("ligands.csv", str(src), action="symlink")
    assert os.path.islink(asset.path) and os.readlink(asset.path) == str(src.resolve())
    assert asset.file.name.startswith("links/") and asset.import_action == "symlink"
    assert (asset.sha256, asset.size) == (_sha(CSV), len(CSV))
    assert asset.read_bytes() == CSV
    assert not (Path(settings.MEDIA_ROOT) / "blobs").exists()  # hashed, not copied


def test_hardlink_file_shares_the_inode(store, ws):
    src = store / "l.csv"
    src.write_bytes(CSV)
    asset = ws.data_assets.import_asset("ligands.csv", str(src), action="hardlink")
    assert not os.path.islink(asset.path)
    assert os.stat(asset.path).st_ino == src.stat().st_ino and src.stat().st_nlink == 2
    assert asset.file.name.startswith("links/") and (asset.sha256, asset.size) == (_sha(CSV), len(CSV))


def test_hardlink_across_file_systems_is_a_clear_error(store, ws, monkeypatch, settings):
    def cross_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(import_actions, "_link", cross_device)
    (store / "l.csv").write_bytes(CSV)
    with pytest.raises(ValidationError, match="same file system|another file system"):
        ws.data_assets.import_asset("ligands.csv", str(store / "l.csv"), action="hardlink")
    assert not Asset.objects.exists()
    assert [p for p in Path(settings.MEDIA_ROOT).rglob("*") if not p.is_dir()] == []


def test_unknown_action_is_refused(store, ws):
    (store / "l.csv").write_bytes(CSV)
    with pytest.raises(ValidationError, match="action"):
        ws.data_assets.import_asset("l.csv", str(store / "l.csv"), action="upload")


def test_link_actions_need_file_system_storage(store, ws, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    (store / "l.csv").write_bytes(CSV)
    for action in ("symlink", "hardlink"):
        with pytest.raises(ValidationError, match="file-system storage"):
            ws.data_assets.import_asset("l.csv", str(store / "l.csv"), action=action)
    assert (store / "l.csv").exists()
    assert ws.data_assets.import_asset("l.csv", str(store / "l.csv")).read_bytes() == CSV


def test_move_into_a_non_file_system_storage_uploads_then_removes_the_source(store, ws, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    (store / "m.csv").write_bytes(CSV)
    asset = ws.data_assets.import_asset("m.csv", str(store / "m.csv"), action="move")
    assert asset.read_bytes() == CSV and asset.sha256 == _sha(CSV) and asset.import_action == "move"
    assert not (store / "m.csv").exists()


# --- directories --------------------------------------------------------------------------------


def test_copy_directory_stores_a_canonical_tar(store, project):
    asset = project.data_assets.import_asset("tree", str(_tree(store)))
    assert asset.media_type == "application/x-tar" and asset.import_action == "copy"
    data = asset.read_bytes()
    assert asset.size == len(data) and asset.sha256 == _sha(data) and len(data) % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["a.csv", "empty", "sub", "sub/b.txt"]
        assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members)
        assert tar.extractfile("sub/b.txt").read() == b"hello"
    listing = asset.metadata["directory"]
    assert listing["file_count"] == 2 and listing["total_bytes"] == len(CSV) + 5
    assert listing["files"][1] == {"path": "sub/b.txt", "size": 5, "sha256": _sha(b"hello")}


def test_same_tree_gives_the_same_sha_and_version(store, project):
    first = project.data_assets.import_asset("tree", str(_tree(store, "one")))
    other = _tree(store, "two")  # another folder name, other timestamps
    os.utime(other / "a.csv", (1, 1))
    again = project.data_assets.import_asset("tree", str(other))
    assert again.pk == first.pk and again.version == 1
    (other / "sub" / "b.txt").write_bytes(b"changed")
    assert project.data_assets.import_asset("tree", str(other)).version == 2


def test_move_directory_removes_the_tree(store, project):
    src = _tree(store)
    asset = project.data_assets.import_asset("tree", str(src), action="move")
    assert not src.exists() and asset.import_action == "move"
    with tarfile.open(fileobj=io.BytesIO(asset.read_bytes())) as tar:
        assert tar.extractfile("a.csv").read() == CSV


def test_symlink_directory_links_to_it_with_the_tar_digest(store, project, experiment):
    src = _tree(store)
    copied = project.data_assets.import_asset("tree", str(src))
    asset = experiment.data_assets.import_asset("tree", str(src), action="symlink")
    assert os.path.islink(asset.path) and os.readlink(asset.path) == str(src.resolve())
    assert (asset.sha256, asset.size) == (copied.sha256, copied.size)
    assert asset.media_type == "inode/directory" and (Path(asset.path) / "sub" / "b.txt").read_bytes() == b"hello"


def test_hardlink_directory_is_a_tree_of_hard_links(store, project, experiment):
    src = _tree(store)
    copied = project.data_assets.import_asset("tree", str(src))
    asset = experiment.data_assets.import_asset("tree", str(src), action="hardlink")
    stored = Path(asset.path)
    assert stored.is_dir() and not stored.is_symlink() and (stored / "empty").is_dir()
    assert (stored / "sub" / "b.txt").stat().st_ino == (src / "sub" / "b.txt").stat().st_ino
    assert (asset.sha256, asset.size) == (copied.sha256, copied.size)
    assert asset.metadata["directory"]["file_count"] == 2


def test_symlink_inside_a_directory_within_the_roots_is_archived_as_its_target(store, project):
    (store / "shared.txt").write_bytes(b"shared")
    src = _tree(store)
    (src / "link.txt").symlink_to(store / "shared.txt")
    asset = project.data_assets.import_asset("tree", str(src))
    with tarfile.open(fileobj=io.BytesIO(asset.read_bytes())) as tar:
        member = tar.getmember("link.txt")
        assert member.isfile() and tar.extractfile(member).read() == b"shared"
