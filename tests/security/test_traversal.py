"""Path traversal in every name or path a request can carry (SPEC §7, §11).

Each hostile form — ``../``, ``..%2f``, ``%2e%2e%2f``, double-encoded
``%252e%252e%252f``, absolute paths, NUL bytes, backslashes, symlink escapes —
is sent where a request carries a name or a path: download URLs, tus upload
metadata (``filename``, ``name``), server-path imports (service and the
``import_asset`` command, below ``MOLEXP_IMPORT_ROOTS`` only), experiment
``workflow_source``, the run page's ``?log=`` and catalog query parameters. The
answer is a 4xx or the string kept as a label only, and nothing is written
outside ``MEDIA_ROOT`` (the file system is listed before and after).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from assets_app.models import Asset, Upload
from runs_app.models import Experiment

from .conftest import client_for

HOSTILE = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/etc/passwd",
    "/tmp/molexp-escape.txt",
    "..\\..\\..\\windows\\win.ini",
    "C:\\Windows\\win.ini",
    "ok.csv\x00../../etc/passwd",
    "....//....//etc/passwd",
    "./../.././x",
    "~/.ssh/id_rsa",
]
IDS = [
    "dotdot",
    "dotdot-encoded",
    "dot-encoded",
    "double-encoded",
    "absolute",
    "absolute-tmp",
    "backslash",
    "drive",
    "nul",
    "dotdot-doubled",
    "dot-mix",
    "home",
]
TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


def _files_outside(world) -> set[Path]:
    """Every file under the test's tmp folder that is not in MEDIA_ROOT (workflows, import roots …)."""
    media = world.media.resolve()
    found = set()
    for path in world.tmp.rglob("*"):
        if path.is_file() or path.is_symlink():
            if not path.resolve().is_relative_to(media) or not path.is_relative_to(world.media):
                found.add(path)
    return found


@pytest.fixture
def snapshot(world):
    before = _files_outside(world)
    escape = Path("/tmp/molexp-escape.txt")
    existed = escape.exists()
    yield
    assert _files_outside(world) == before, "a file was written outside MEDIA_ROOT"
    assert escape.exists() == existed


def _meta(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def _upload(client, ws, data: bytes, **pairs: str):
    created = client.post(
        "/api/uploads/",
        HTTP_UPLOAD_LENGTH=str(len(data)),
        HTTP_UPLOAD_METADATA=_meta(workspace=str(ws.pk), **pairs),
        **TUS,
    )
    if created.status_code != 201:
        return created, None
    done = client.generic(
        "PATCH",
        created["Location"],
        data,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET="0",
        **TUS,
    )
    return done, done.get("MolExp-Asset-Id")


# --- upload metadata ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["filename", "name"])
@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_upload_metadata_names_are_labels_or_refused(world, snapshot, field, hostile):
    client = client_for(world, "editor", api=True)
    data = b"payload " + hostile.encode()
    pairs = {"filename": "plain.csv", field: hostile}
    response, asset_id = _upload(client, world.ws, data, **pairs)
    assert response.status_code in (204, 400), response.content
    if asset_id is None:
        assert response.status_code == 400 and "detail" in response.json()
        return
    asset = Asset.objects.get(pk=asset_id)
    # The bytes live in the content-addressed store under MEDIA_ROOT, named by their hash.
    path = Path(asset.file.path).resolve()
    assert path.is_relative_to(world.media.resolve())
    assert hashlib.sha256(data).hexdigest() in path.name
    download = client_for(world, "editor", api=False).get(f"/assets/{asset.pk}/download/")
    assert download.status_code == 200
    disposition = download["Content-Disposition"]
    assert "/" not in disposition.split("filename", 1)[1] and "\\" not in disposition.split("filename", 1)[1]
    assert b"".join(download.streaming_content) == data


def test_upload_partial_names_are_server_chosen(world, snapshot):
    client = client_for(world, "editor", api=True)
    created = client.post(
        "/api/uploads/",
        HTTP_UPLOAD_LENGTH="5",
        HTTP_UPLOAD_METADATA=_meta(workspace=str(world.ws.pk), filename="../../escape.part"),
        **TUS,
    )
    if created.status_code == 201:
        upload = Upload.objects.get(pk=created["Location"].rstrip("/").rsplit("/", 1)[1])
        assert upload.partial_name == f"uploads/{upload.pk.hex}.part"


@pytest.mark.parametrize(
    "hostile_id",
    ["..%2f..%2f1", "%2e%2e", "1%00", "1;rm", "-1", "0x1", "1.0", "99999999999999999999999", "%252e%252e%252f"],
)
@pytest.mark.parametrize("prefix", ["/assets/{}/download/", "/api/assets/{}/", "/api/uploads/{}/", "/runs/{}/"])
def test_hostile_ids_in_urls_are_404(world, snapshot, prefix, hostile_id):
    api = prefix.startswith("/api/")
    response = client_for(world, "owner", api=api).get(prefix.format(hostile_id), **(TUS if api else {}))
    assert response.status_code in (301, 404), response.status_code


# --- server-path imports ------------------------------------------------------------------------


@pytest.fixture
def import_root(world, settings):
    root = world.tmp / "import"
    outside = world.tmp / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "ok.csv").write_bytes(b"a,b\n")
    (outside / "secret.txt").write_bytes(b"top secret")
    (root / "escape-link").symlink_to(outside / "secret.txt")
    (root / "escape-dir").symlink_to(outside, target_is_directory=True)
    settings.MOLEXP_IMPORT_ROOTS = [str(root)]
    return root


def _import_sources(root: Path) -> list[str]:
    return [
        f"{root}/../outside/secret.txt",
        f"{root}/..%2foutside%2fsecret.txt",
        f"{root}/%2e%2e/outside/secret.txt",
        f"{root}/%252e%252e%252foutside/secret.txt",
        f"{root}/ok.csv\x00/../../outside/secret.txt",
        f"{root}\\..\\outside\\secret.txt",
        f"{root}/escape-link",
        f"{root}/escape-dir/secret.txt",
        f"{root}/escape-dir",
        "/etc/passwd",
        "ok.csv",
        "../outside/secret.txt",
        str(root),
    ]


SOURCE_IDS = [
    "dotdot",
    "dotdot-encoded",
    "dot-encoded",
    "double-encoded",
    "nul",
    "backslash",
    "symlink-file",
    "symlink-dir-file",
    "symlink-dir",
    "absolute",
    "relative",
    "relative-dotdot",
    "the-root",
]


@pytest.mark.parametrize("action", ["copy", "move", "symlink", "hardlink"])
@pytest.mark.parametrize("index", range(13), ids=SOURCE_IDS)
def test_service_import_refuses_paths_leaving_the_roots(world, import_root, action, index):
    source = _import_sources(import_root)[index]
    before = _files_outside(world)
    with pytest.raises(ValidationError):
        world.ws.data_assets.import_asset("x", source, action=action)
    assert not Asset.objects.filter(name="x").exists()
    assert (world.tmp / "outside" / "secret.txt").read_bytes() == b"top secret"
    assert _files_outside(world) == before


@pytest.mark.parametrize("index", range(13), ids=SOURCE_IDS)
def test_import_asset_command_refuses_paths_leaving_the_roots(world, import_root, index):
    source = _import_sources(import_root)[index]
    with pytest.raises(CommandError):
        call_command("import_asset", source, "--workspace", "lab", "--name", "x")
    assert not Asset.objects.filter(name="x").exists()


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_import_names_are_labels_only(world, import_root, snapshot, hostile):
    """A hostile asset *name* on a legal source: refused, or kept as a label (the blob is hash-named)."""
    try:
        asset = world.ws.data_assets.import_asset(hostile, f"{import_root}/ok.csv", action="copy")
    except ValidationError:
        return
    path = Path(asset.file.path).resolve()
    assert path.is_relative_to(world.media.resolve())
    assert hashlib.sha256(b"a,b\n").hexdigest() in path.name


def test_symlink_swapped_after_import_is_not_followed_on_download(world, import_root, settings):
    """A symlinked import whose source is later replaced by a link out of the root: download is 404."""
    target = import_root / "swap.csv"
    target.write_bytes(b"x,y\n")
    asset = world.ws.data_assets.import_asset("swap.csv", str(target), action="symlink")
    target.unlink()
    target.symlink_to(world.tmp / "outside" / "secret.txt")
    response = client_for(world, "owner", api=False).get(f"/assets/{asset.pk}/download/")
    assert response.status_code == 404
    assert b"top secret" not in (b"".join(response.streaming_content) if response.streaming else response.content)


# --- experiment workflow_source --------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        *HOSTILE,
        "../workflows/chem.py",
        "%2e%2e/chem.py",
        "chem.py\x00.txt",
        "/etc/passwd.py",
        "link-out.py",
        "sub/../chem.py",
        "\\chem.py",
    ],
)
def test_workflow_source_cannot_leave_the_workflow_dirs(world, snapshot, workflow_dir, source):
    outside = world.tmp / "outside.py"
    outside.write_text("raise SystemExit('imported from outside')\n")
    (workflow_dir / "link-out.py").symlink_to(outside)
    try:
        client = client_for(world, "editor", api=True)
        before = Experiment.objects.count()
        response = client.post(
            "/api/experiments/",
            {"project": world.project.pk, "name": "Escape", "workflow_source": source},
            format="json",
        )
        assert response.status_code == 400, response.content
        assert "workflow_source" in response.json()
        assert Experiment.objects.count() == before
    finally:
        (workflow_dir / "link-out.py").unlink()
        outside.unlink()


# --- names in query parameters -----------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_log_query_parameter_is_an_id_lookup_only(world, snapshot, hostile):
    response = client_for(world, "viewer", api=False).get(f"/assets/runs/{world.run.pk}/logs/", {"log": hostile})
    assert response.status_code in (200, 286)
    assert b"root:" not in response.content  # /etc/passwd never read
    assert b"2 molecules" in response.content  # the run's own log (the default) is shown


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
@pytest.mark.parametrize("param", ["q", "name", "tag", "kind", "workspace"])
def test_catalog_parameters_are_search_terms(world, snapshot, hostile, param):
    response = client_for(world, "viewer", api=True).get("/api/assets/", {param: hostile})
    assert response.status_code in (200, 400), response.content
    assert b"root:" not in response.content


def test_nothing_escaped_to_the_temp_folder():
    assert not os.path.exists("/tmp/molexp-escape.txt")
