"""Data libraries (SPEC §6, §7): versions per (scope, name), dedup of identical bytes, get/list, roles."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from assets_app.models import Asset, DataAsset
from assets_app.services import AssetNotFound, DataLibrary

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(tmp_path, settings):
    """Asset files in tmp_path/media; imports allowed below tmp_path/import."""
    media, root = tmp_path / "media", tmp_path / "import"
    root.mkdir()
    settings.MEDIA_ROOT = str(media)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media)}},
    }
    settings.MOLEXP_IMPORT_ROOTS = [str(root)]
    return root


def _blobs(settings) -> list[Path]:
    return [p for p in (Path(settings.MEDIA_ROOT) / "blobs").rglob("*") if p.is_file()]


def test_data_assets_are_libraries_bound_to_their_scope(ws, project, experiment):
    assert isinstance(ws.data_assets, DataLibrary)
    assert "workspace 'lab'" in repr(ws.data_assets)
    assert "project 'lab/qm9'" in repr(project.data_assets)
    assert "experiment 'lab/qm9/baseline'" in repr(experiment.data_assets)


def test_same_bytes_return_the_existing_version(store, ws):
    (store / "a.csv").write_bytes(b"x\n1\n")
    first = ws.data_assets.import_asset("ligands.csv", str(store / "a.csv"))
    again = ws.data_assets.import_asset("ligands.csv", str(store / "a.csv"))
    assert again.pk == first.pk and again.version == 1
    assert isinstance(again, DataAsset)
    assert Asset.objects.count() == 1


def test_different_bytes_make_the_next_version(store, ws):
    src = store / "a.csv"
    src.write_bytes(b"x\n1\n")
    v1 = ws.data_assets.import_asset("ligands.csv", str(src))
    src.write_bytes(b"x\n1\n2\n")
    v2 = ws.data_assets.import_asset("ligands.csv", str(src))
    assert (v1.version, v2.version) == (1, 2)
    assert v1.sha256 != v2.sha256 and v2.size == 6


def test_identical_bytes_under_two_names_are_stored_once(store, ws, project, settings):
    (store / "a.csv").write_bytes(b"same bytes")
    a = ws.data_assets.import_asset("one.csv", str(store / "a.csv"))
    b = project.data_assets.upload("two.csv", io.BytesIO(b"same bytes"))
    assert a.pk != b.pk and a.sha256 == b.sha256 and a.file.name == b.file.name
    assert len(_blobs(settings)) == 1


def test_versions_are_per_scope(store, ws, project):
    ws.data_assets.upload("d.csv", b"one")
    p1 = project.data_assets.upload("d.csv", b"two")
    assert p1.version == 1 and p1.scope == "project"


def test_upload_records_sha256_size_and_action(store, ws, editor):
    asset = ws.data_assets.upload("notes.txt", io.BytesIO(b"hello"), tags=["raw", "raw"], metadata={"n": 1},
                                  user=editor, description="d")  # fmt: skip
    assert asset.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert asset.size == 5 and asset.import_action == "upload" and asset.tags == ["raw"]
    assert asset.metadata == {"n": 1} and asset.created_by == editor and asset.read_bytes() == b"hello"


def test_get_returns_newest_or_pinned(store, experiment):
    lib = experiment.data_assets
    lib.upload("d.csv", b"1")
    lib.upload("d.csv", b"2")
    assert lib.get("d.csv").version == 2
    assert lib.get("d.csv", version=1).read_bytes() == b"1"


def test_get_names_scope_name_and_version_when_missing(store, project):
    project.data_assets.upload("d.csv", b"1")
    with pytest.raises(AssetNotFound) as info:
        project.data_assets.get("d.csv", version=7)
    assert isinstance(info.value, LookupError)
    assert "'d.csv'" in str(info.value) and "version 7" in str(info.value) and "project 'lab/qm9'" in str(info.value)
    with pytest.raises(AssetNotFound):
        project.workspace.data_assets.get("d.csv")  # other scope


def test_list_gives_the_newest_version_per_name(store, ws, django_assert_num_queries):
    lib = ws.data_assets
    lib.upload("b.csv", b"1")
    lib.upload("b.csv", b"2")
    lib.upload("a.csv", b"3")
    with django_assert_num_queries(1):
        rows = [(a.name, a.version, a.version_count) for a in lib.list()]
    assert rows == [("a.csv", 1, 1), ("b.csv", 2, 2)]
    assert [(a.name, a.version) for a in lib.list(all_versions=True)] == [("a.csv", 1), ("b.csv", 2), ("b.csv", 1)]


def test_viewer_may_not_write(store, ws, viewer):
    with pytest.raises(PermissionDenied):
        ws.data_assets.upload("d.csv", b"1", user=viewer)
    assert not Asset.objects.exists()


def test_outsider_does_not_see_the_workspace(store, ws, outsider):
    (store / "a.csv").write_bytes(b"1")
    with pytest.raises(Http404):
        ws.data_assets.import_asset("d.csv", str(store / "a.csv"), user=outsider)
    assert not Asset.objects.exists()


def test_owner_and_editor_may_write(store, ws, owner, editor):
    assert ws.data_assets.upload("a", b"1", user=owner).created_by == owner
    assert ws.data_assets.upload("b", b"1", user=editor).created_by == editor


def test_names_are_labels_not_paths(store, ws, settings):
    asset = ws.data_assets.upload("../../etc/passwd", b"label only")
    assert asset.name == "../../etc/passwd"
    assert asset.file.name.startswith("blobs/")
    with pytest.raises(ValidationError):
        ws.data_assets.upload("bad\x00name", b"1")
    with pytest.raises(ValidationError):
        ws.data_assets.upload("", b"1")
