"""Imports only from below MOLEXP_IMPORT_ROOTS (SPEC §11): every traversal form is refused, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from assets_app.models import Asset
from assets_app.services import import_source_resolve

pytestmark = pytest.mark.django_db

ACTIONS = ("copy", "move", "symlink", "hardlink")


@pytest.fixture
def store(tmp_path, settings):
    media, root, outside = tmp_path / "media", tmp_path / "import", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"top secret")
    (root / "ok.csv").write_bytes(b"a,b\n")
    settings.MEDIA_ROOT = str(media)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media)}},
    }
    settings.MOLEXP_IMPORT_ROOTS = [str(root)]
    return root


def _assert_nothing_written(settings, tmp_path):
    assert not Asset.objects.exists()
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or [p for p in media.rglob("*") if not p.is_dir()] == []
    assert (tmp_path / "outside" / "secret.txt").read_bytes() == b"top secret"


def _refused(ws, source, action, match):
    with pytest.raises(ValidationError, match=match):
        ws.data_assets.import_asset("x", source, action=action)


@pytest.mark.parametrize("action", ACTIONS)
def test_dot_dot_is_refused(store, ws, action, settings, tmp_path):
    _refused(ws, f"{store}/../outside/secret.txt", action, r"'\.\.'")
    _refused(ws, f"{store}/sub/../ok.csv", action, r"'\.\.'")  # even when it would stay inside
    _assert_nothing_written(settings, tmp_path)


@pytest.mark.parametrize("action", ACTIONS)
def test_absolute_path_outside_the_roots_is_refused(store, ws, action, settings, tmp_path):
    _refused(ws, str(tmp_path / "outside" / "secret.txt"), action, "not below an import root")
    _refused(ws, "/etc/passwd", action, "not below an import root")
    _assert_nothing_written(settings, tmp_path)


@pytest.mark.parametrize("action", ACTIONS)
def test_nul_byte_is_refused(store, ws, action, settings, tmp_path):
    _refused(ws, f"{store}/ok.csv\x00.txt", action, "NUL")
    _assert_nothing_written(settings, tmp_path)


def test_relative_paths_and_encoded_forms_are_refused(store, ws, settings, tmp_path):
    _refused(ws, "ok.csv", "copy", "absolute")
    _refused(ws, "import/ok.csv", "copy", "absolute")
    _refused(ws, f"{store}/..%2Foutside%2Fsecret.txt", "copy", "does not exist")  # no decoding: a literal name
    _refused(ws, "", "copy", "required")
    _assert_nothing_written(settings, tmp_path)


def test_the_root_itself_is_not_below_a_root(store, ws, settings, tmp_path):
    _refused(ws, str(store), "move", "not below an import root")
    assert store.exists()
    _assert_nothing_written(settings, tmp_path)


@pytest.mark.parametrize("action", ACTIONS)
def test_symlink_escaping_the_root_is_refused(store, ws, action, settings, tmp_path):
    (store / "escape.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    (store / "escape_dir").symlink_to(tmp_path / "outside")
    _refused(ws, str(store / "escape.txt"), action, "not below an import root")
    _refused(ws, str(store / "escape_dir" / "secret.txt"), action, "not below an import root")
    assert (store / "escape.txt").is_symlink()
    _assert_nothing_written(settings, tmp_path)


@pytest.mark.parametrize("action", ACTIONS)
def test_directory_holding_an_escaping_symlink_is_refused(store, ws, action, settings, tmp_path):
    tree = store / "tree"
    (tree / "deep").mkdir(parents=True)
    (tree / "fine.txt").write_bytes(b"fine")
    (tree / "deep" / "leak.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    _refused(ws, str(tree), action, "symlink whose target escapes")
    assert (tree / "fine.txt").exists() and (tree / "deep" / "leak.txt").is_symlink()
    _assert_nothing_written(settings, tmp_path)


def test_directory_holding_a_symlinked_directory_is_refused(store, ws, settings, tmp_path):
    tree = store / "tree"
    tree.mkdir()
    (tree / "loop").symlink_to(tree)
    _refused(ws, str(tree), "copy", "symlink to a directory")
    _assert_nothing_written(settings, tmp_path)


def test_directory_holding_a_fifo_is_refused(store, ws, settings, tmp_path):
    tree = store / "tree"
    tree.mkdir()
    os.mkfifo(tree / "pipe")
    _refused(ws, str(tree), "copy", "special file")
    _assert_nothing_written(settings, tmp_path)


def test_no_roots_configured_means_no_imports(store, ws, settings, tmp_path):
    settings.MOLEXP_IMPORT_ROOTS = []
    _refused(ws, str(store / "ok.csv"), "copy", "MOLEXP_IMPORT_ROOTS")
    _assert_nothing_written(settings, tmp_path)


def test_missing_source_is_refused(store, ws, settings, tmp_path):
    _refused(ws, str(store / "missing.csv"), "copy", "does not exist")
    _assert_nothing_written(settings, tmp_path)


def test_the_asset_store_is_not_a_source(store, ws, settings, tmp_path):
    settings.MOLEXP_IMPORT_ROOTS = [str(tmp_path)]
    blob = ws.data_assets.upload("a", b"stored")
    with pytest.raises(ValidationError, match="inside the asset store"):
        import_source_resolve(blob.path)


def test_symlink_inside_the_roots_resolves_to_its_target(store, ws):
    (store / "alias.csv").symlink_to(store / "ok.csv")
    assert import_source_resolve(str(store / "alias.csv")) == (store / "ok.csv").resolve()
    assert ws.data_assets.import_asset("alias", str(store / "alias.csv")).read_bytes() == b"a,b\n"
