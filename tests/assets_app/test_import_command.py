"""``manage.py import_asset``: a thin adapter over the data library import; errors are CommandErrors."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from assets_app.models import Asset

pytestmark = pytest.mark.django_db


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
    (root / "l.csv").write_bytes(b"a,b\n1,2\n")
    return root


def _run(*args) -> str:
    out = StringIO()
    call_command("import_asset", *args, stdout=out)
    return out.getvalue()


def test_imports_into_the_workspace_library(store, ws):
    out = _run(str(store / "l.csv"), "--workspace", "lab", "--tag", "raw", "--tag", "qm9")
    asset = Asset.objects.get()
    assert asset.scope == "workspace" and asset.name == "l.csv" and asset.tags == ["raw", "qm9"]
    assert "l.csv v1" in out and asset.sha256 in out


def test_imports_into_an_experiment_with_name_action_and_user(store, experiment, editor):
    _run(str(store / "l.csv"), "--workspace", "lab", "--project", "qm9", "--experiment", "baseline",
         "--name", "ligands", "--action", "move", "--user", "editor")  # fmt: skip
    asset = Asset.objects.get()
    assert (asset.scope, asset.experiment_id, asset.name, asset.import_action) == (
        "experiment", experiment.pk, "ligands", "move")  # fmt: skip
    assert asset.created_by == editor and not (store / "l.csv").exists()


def test_same_bytes_report_the_existing_version(store, ws):
    _run(str(store / "l.csv"), "--workspace", "lab")
    assert "l.csv v1" in _run(str(store / "l.csv"), "--workspace", "lab")
    assert Asset.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "nope"], "No workspace"),
        (["--workspace", "lab", "--project", "nope"], "No project"),
        (["--workspace", "lab", "--experiment", "baseline"], "needs --project"),
        (["--workspace", "lab", "--user", "ghost"], "No user"),
        (["--workspace", "lab", "--user", "viewer"], "editor role"),
        (["--workspace", "lab", "--user", "outsider"], "No such workspace"),
    ],
)
def test_bad_arguments_are_command_errors(store, ws, project, outsider, args, message):
    with pytest.raises(CommandError, match=message):
        _run(str(store / "l.csv"), *args)
    assert not Asset.objects.exists()


def test_paths_outside_the_roots_are_command_errors(store, ws, tmp_path):
    (tmp_path / "secret").write_bytes(b"s")
    with pytest.raises(CommandError, match="not below an import root"):
        _run(str(tmp_path / "secret"), "--workspace", "lab")
    with pytest.raises(CommandError, match=r"source: .*'\.\.'"):
        _run(f"{store}/../secret", "--workspace", "lab")
    assert not Asset.objects.exists()


def test_unknown_action_is_refused_by_the_parser(store, ws):
    with pytest.raises(CommandError):
        _run(str(store / "l.csv"), "--workspace", "lab", "--action", "upload")
