"""The tus 1.0 endpoint, request by request (Django test client): core, creation, termination, checksum, abuse."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import os
import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from assets_app.choices import UploadStatus
from assets_app.models import Asset, DataAsset, Upload
from assets_app.services import upload_partials
from runs_app.choices import Role
from tests import factories as f

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
OCTETS = "application/offset+octet-stream"


@pytest.fixture
def media(settings, tmp_path):
    """An empty MEDIA_ROOT (and default storage) per test, so the file system can be asserted on."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


def meta(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def create(client, length: int, **pairs: str):
    return client.post("/api/uploads/", HTTP_UPLOAD_LENGTH=str(length), HTTP_UPLOAD_METADATA=meta(**pairs), **TUS)


def patch(client, url: str, data: bytes, offset: int, **extra):
    return client.generic("PATCH", url, data, content_type=OCTETS, HTTP_UPLOAD_OFFSET=str(offset), **TUS, **extra)


def sha256_header(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


@pytest.fixture
def as_editor(editor, ws, media) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=editor)
    return client


def new_upload(client, ws, data: bytes = b"x" * 100, **pairs: str) -> str:
    response = create(client, len(data), filename="data.csv", workspace=str(ws.pk), **pairs)
    assert response.status_code == 201, response.content
    return response["Location"]


# --- protocol basics ---------------------------------------------------------------------


def test_options_advertises_version_extensions_and_limits(client, db, settings):
    settings.MOLEXP_UPLOAD_MAX_SIZE = 12345
    response = client.options("/api/uploads/")
    assert response.status_code == 204
    assert response["Tus-Resumable"] == "1.0.0"
    assert response["Tus-Version"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {"creation", "termination", "checksum"}
    assert response["Tus-Max-Size"] == "12345"
    assert "sha256" in response["Tus-Checksum-Algorithm"].split(",")


@pytest.mark.parametrize("version", [None, "0.2.2", "1.0"])
def test_missing_or_wrong_tus_resumable_is_412(as_editor, ws, version):
    headers = {"HTTP_TUS_RESUMABLE": version} if version else {}
    response = as_editor.post(
        "/api/uploads/", HTTP_UPLOAD_LENGTH="10", HTTP_UPLOAD_METADATA=meta(filename="a"), **headers
    )
    assert response.status_code == 412
    assert response["Tus-Version"] == "1.0.0" and response["Tus-Resumable"] == "1.0.0"
    assert not Upload.objects.exists()


def test_create_then_head_reports_offset_length_and_expiry(as_editor, ws, media):
    response = create(as_editor, 100, filename="data.csv", workspace=str(ws.pk))
    assert response.status_code == 201
    assert response["Tus-Resumable"] == "1.0.0"
    location = response["Location"]
    assert re.fullmatch(r"/api/uploads/[0-9a-f-]{36}/", location)
    head = as_editor.head(location, **TUS)
    assert head.status_code == 200
    assert head["Upload-Offset"] == "0" and head["Upload-Length"] == "100"
    assert head["Cache-Control"] == "no-store" and "GMT" in head["Upload-Expires"]
    upload = Upload.objects.get()
    assert [p.name for p in (media / "uploads").iterdir()] == [f"{upload.pk.hex}.part"]


def test_full_upload_in_checksummed_chunks_publishes_one_data_asset(as_editor, editor, ws, project, media):
    data = b"smiles,label\n" + b"CCO,1\n" * 5000
    location = new_upload(as_editor, ws, data, name="ligands.csv", project=str(project.pk), tags="qm, raw",
                          description="first batch")  # fmt: skip
    first = patch(as_editor, location, data[:10_000], 0, HTTP_UPLOAD_CHECKSUM=sha256_header(data[:10_000]))
    assert first.status_code == 204 and first["Upload-Offset"] == "10000"
    assert "MolExp-Asset-Id" not in first
    last = patch(as_editor, location, data[10_000:], 10_000, HTTP_UPLOAD_CHECKSUM=sha256_header(data[10_000:], "sha1"))
    assert last.status_code == 204, last.content
    assert last["Upload-Offset"] == str(len(data))
    asset = DataAsset.objects.get(pk=int(last["MolExp-Asset-Id"]))
    assert asset.sha256 == hashlib.sha256(data).hexdigest() and asset.size == len(data)
    assert (asset.name, asset.version, asset.scope, asset.project_id) == ("ligands.csv", 1, "project", project.pk)
    assert asset.tags == ["qm", "raw"] and asset.description == "first batch"
    assert asset.import_action == "upload" and asset.source_path == "" and asset.created_by == editor
    assert asset.read_bytes() == data
    # the partial became the blob: nothing left in uploads/
    assert list((media / "uploads").iterdir()) == []
    upload = Upload.objects.get()
    assert upload.status == UploadStatus.COMPLETE and upload.asset_id == asset.pk and upload.sha256 == asset.sha256
    head = as_editor.head(location, **TUS)
    assert head["MolExp-Asset-Id"] == str(asset.pk) and head["Upload-Offset"] == str(len(data))
    # a completed upload takes no more bytes
    assert patch(as_editor, location, b"x", len(data)).status_code == 409


def test_sha256_survives_a_patch_served_by_another_process(as_editor, ws, media):
    data = bytes(range(256)) * 400
    location = new_upload(as_editor, ws, data)
    assert patch(as_editor, location, data[:50_000], 0).status_code == 204
    upload_partials._hash_cache.clear()  # the next PATCH lands in a process without the running hash
    response = patch(as_editor, location, data[50_000:], 50_000)
    assert response.status_code == 204
    assert Asset.objects.get(pk=response["MolExp-Asset-Id"]).sha256 == hashlib.sha256(data).hexdigest()


def test_empty_upload_is_published_at_creation(as_editor, ws, media):
    response = create(as_editor, 0, filename="empty.txt", workspace=str(ws.pk))
    assert response.status_code == 201
    asset = Asset.objects.get(pk=response["MolExp-Asset-Id"])
    assert asset.size == 0 and asset.sha256 == hashlib.sha256(b"").hexdigest()


# --- offsets, checksums, lengths ------------------------------------------------------------


def test_offset_mismatch_is_409_and_changes_nothing(as_editor, ws, media):
    location = new_upload(as_editor, ws)
    assert patch(as_editor, location, b"a" * 10, 0).status_code == 204
    response = patch(as_editor, location, b"b" * 10, 5)
    assert response.status_code == 409 and "10" in response.json()["detail"]
    assert as_editor.head(location, **TUS)["Upload-Offset"] == "10"


def test_checksum_mismatch_is_460_and_the_chunk_is_discarded(as_editor, ws, media):
    data = b"z" * 100
    location = new_upload(as_editor, ws, data)
    assert patch(as_editor, location, data[:40], 0).status_code == 204
    bad = patch(as_editor, location, data[40:], 40, HTTP_UPLOAD_CHECKSUM=sha256_header(b"something else"))
    assert bad.status_code == 460
    upload = Upload.objects.get()
    assert upload.offset == 40 and upload.asset_id is None
    assert (media / upload.partial_name).stat().st_size == 40
    assert not Asset.objects.exists()
    good = patch(as_editor, location, data[40:], 40, HTTP_UPLOAD_CHECKSUM=sha256_header(data[40:]))
    assert good.status_code == 204 and Asset.objects.get().sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("header", ["crc32 AAAA", "sha256", "sha256 not-base64!", "sha256 a b"])
def test_malformed_or_unsupported_checksum_is_400(as_editor, ws, media, header):
    location = new_upload(as_editor, ws)
    assert patch(as_editor, location, b"a" * 10, 0, HTTP_UPLOAD_CHECKSUM=header).status_code == 400
    assert Upload.objects.get().offset == 0


def test_patch_needs_the_offset_content_type(as_editor, ws, media):
    location = new_upload(as_editor, ws)
    response = as_editor.generic(
        "PATCH", location, b"abc", content_type="application/json", HTTP_UPLOAD_OFFSET="0", **TUS
    )
    assert response.status_code == 415
    response = as_editor.generic("PATCH", location, b"abc", content_type=OCTETS, **TUS)  # no Upload-Offset
    assert response.status_code == 400


def test_bytes_past_upload_length_are_refused_before_reading(as_editor, ws, media):
    location = new_upload(as_editor, ws, b"x" * 100)
    response = patch(as_editor, location, b"y" * 101, 0)
    assert response.status_code == 413
    upload = Upload.objects.get()
    assert upload.offset == 0 and (media / upload.partial_name).stat().st_size == 0
    assert not Asset.objects.exists()


def test_short_total_length_is_never_published(as_editor, ws, media):
    location = new_upload(as_editor, ws, b"x" * 100)
    assert patch(as_editor, location, b"x" * 99, 0).status_code == 204
    upload = Upload.objects.get()
    assert upload.status == UploadStatus.RECEIVING and upload.offset == 99 and not Asset.objects.exists()


class ShortBody(io.BytesIO):
    """A request body that ends before its Content-Length (what a client abort looks like to the view)."""


@pytest.mark.parametrize("with_checksum", [False, True])
def test_body_ending_before_content_length_is_never_published(as_editor, ws, media, with_checksum):
    data = b"q" * 100
    location = new_upload(as_editor, ws, data)
    extra = {"HTTP_UPLOAD_CHECKSUM": sha256_header(data)} if with_checksum else {}
    response = as_editor.generic(
        "PATCH", location, b"", content_type=OCTETS, HTTP_UPLOAD_OFFSET="0",
        CONTENT_LENGTH="100", **{"wsgi.input": ShortBody(data[:60])}, **TUS, **extra,
    )  # fmt: skip
    assert response.status_code == 400
    upload = Upload.objects.get()
    assert upload.offset == (0 if with_checksum else 60)
    assert (media / upload.partial_name).stat().st_size == upload.offset
    assert upload.status == UploadStatus.RECEIVING and not Asset.objects.exists()
    # the client resumes from the server's offset and finishes
    rest = patch(as_editor, location, data[upload.offset :], upload.offset)
    assert rest.status_code == 204 and Asset.objects.get().sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("with_checksum", [False, True])
def test_a_large_body_cut_short_then_resumed_publishes_the_right_bytes(as_editor, ws, media, with_checksum):
    """A body past ``WRITEBACK_EVERY`` (the kernel is asked to write back as it arrives) keeps the same
    bookkeeping: only what arrived is committed, and the published SHA-256 is of every byte."""
    from assets_app.services.upload_body import WRITEBACK_EVERY

    data = os.urandom(2 * WRITEBACK_EVERY + 12_345)
    location = new_upload(as_editor, ws, data)
    extra = {"HTTP_UPLOAD_CHECKSUM": sha256_header(data)} if with_checksum else {}
    cut = WRITEBACK_EVERY + 999
    response = as_editor.generic(
        "PATCH", location, b"", content_type=OCTETS, HTTP_UPLOAD_OFFSET="0",
        CONTENT_LENGTH=str(len(data)), **{"wsgi.input": ShortBody(data[:cut])}, **TUS, **extra,
    )  # fmt: skip
    assert response.status_code == 400
    upload = Upload.objects.get()
    assert upload.offset == (0 if with_checksum else cut)
    assert (media / upload.partial_name).stat().st_size == upload.offset
    assert not Asset.objects.exists()
    rest = patch(as_editor, location, data[upload.offset :], upload.offset)
    assert rest.status_code == 204
    asset = Asset.objects.get()
    assert asset.sha256 == hashlib.sha256(data).hexdigest() and asset.size == len(data)
    with asset.open() as fh:
        assert fh.read() == data


def test_a_second_concurrent_writer_gets_423(as_editor, ws, media):
    location = new_upload(as_editor, ws)
    upload = Upload.objects.get()
    with open(media / upload.partial_name, "r+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert patch(as_editor, location, b"a", 0).status_code == 423
    assert patch(as_editor, location, b"a", 0).status_code == 204


def test_oversize_upload_length_is_413_before_anything_is_written(as_editor, ws, media, settings):
    settings.MOLEXP_UPLOAD_MAX_SIZE = 1000
    response = create(as_editor, 1001, filename="big.bin", workspace=str(ws.pk))
    assert response.status_code == 413 and response["Tus-Resumable"] == "1.0.0"
    assert not Upload.objects.exists()
    assert not (media / "uploads").exists() or not list((media / "uploads").iterdir())
    assert create(as_editor, 1000, filename="ok.bin", workspace=str(ws.pk)).status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_UPLOAD_METADATA": meta(workspace="1")},  # no filename
        {"HTTP_UPLOAD_METADATA": meta(filename="a.csv")},  # no workspace
        {"HTTP_UPLOAD_METADATA": "filename !!notbase64"},
        {"HTTP_UPLOAD_METADATA": meta(filename="a.csv", workspace="one")},
        {"HTTP_UPLOAD_METADATA": meta(filename="a.csv") + "," + meta(filename="b.csv")},
    ],
)
def test_bad_metadata_is_400(as_editor, ws, media, headers):
    response = as_editor.post("/api/uploads/", HTTP_UPLOAD_LENGTH="10", **headers, **TUS)
    assert response.status_code == 400 and response.json()["detail"]
    assert not Upload.objects.exists()


@pytest.mark.parametrize("length", ["", "-1", "1.5", "ten", "99999999999999999999999"])
def test_bad_upload_length_is_400(as_editor, ws, media, length):
    response = as_editor.post(
        "/api/uploads/", HTTP_UPLOAD_LENGTH=length, HTTP_UPLOAD_METADATA=meta(filename="a", workspace=str(ws.pk)), **TUS
    )
    assert response.status_code == 400


# --- termination ----------------------------------------------------------------------------


def test_termination_removes_the_partial_and_ends_the_upload(as_editor, ws, media):
    location = new_upload(as_editor, ws)
    assert patch(as_editor, location, b"a" * 10, 0).status_code == 204
    upload = Upload.objects.get()
    partial = media / upload.partial_name
    assert partial.exists()
    response = as_editor.delete(location, **TUS)
    assert response.status_code == 204 and response["Tus-Resumable"] == "1.0.0"
    assert not partial.exists()
    assert Upload.objects.get().status == UploadStatus.ABORTED
    assert as_editor.head(location, **TUS).status_code == 410
    assert patch(as_editor, location, b"a", 10).status_code == 410
    assert not Asset.objects.exists()


# --- permissions -------------------------------------------------------------------------------

EXPECTED_CREATE = {"owner": 201, "editor": 201, "viewer": 403, "outsider": 404, "anonymous": 401}


@pytest.mark.parametrize("role", list(EXPECTED_CREATE))
def test_create_permission_matrix(api_client_for, ws, media, role):
    response = create(api_client_for(role), 10, filename="a.csv", workspace=str(ws.pk))
    assert response.status_code == EXPECTED_CREATE[role], response.content
    assert response["Tus-Resumable"] == "1.0.0"


def test_outsider_and_unknown_workspace_are_indistinguishable(api_client_for, ws, media):
    outsider = api_client_for("outsider")
    hidden = create(outsider, 10, filename="a.csv", workspace=str(ws.pk))
    unknown = create(outsider, 10, filename="a.csv", workspace="987654")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()


@pytest.mark.parametrize("role", ["owner", "viewer", "outsider", "anonymous"])
def test_only_the_creator_can_touch_an_upload(as_editor, api_client_for, ws, media, role):
    location = new_upload(as_editor, ws)
    other = api_client_for(role)
    expected = 401 if role == "anonymous" else 404
    assert other.head(location, **TUS).status_code == expected
    assert patch(other, location, b"a", 0).status_code == expected
    assert other.delete(location, **TUS).status_code == expected
    assert Upload.objects.get().offset == 0 and Upload.objects.get().status == UploadStatus.RECEIVING


def test_an_editor_demoted_to_viewer_cannot_continue(as_editor, editor, ws, media):
    location = new_upload(as_editor, ws)
    ws.memberships.filter(user=editor).update(role=Role.VIEWER)
    assert patch(as_editor, location, b"a", 0).status_code == 403


def test_metadata_naming_another_workspaces_project_is_refused(as_editor, editor, ws, media):
    foreign = f.ProjectFactory(workspace=f.WorkspaceFactory())  # invisible to the editor
    response = create(as_editor, 10, filename="a.csv", workspace=str(ws.pk), project=str(foreign.pk))
    assert response.status_code == 404
    # a workspace the editor also belongs to: visible, but not the upload's workspace
    second = f.WorkspaceFactory()
    f.MembershipFactory(workspace=second, user=editor, role=Role.OWNER)
    elsewhere = f.ProjectFactory(workspace=second)
    response = create(as_editor, 10, filename="a.csv", workspace=str(ws.pk), project=str(elsewhere.pk))
    assert response.status_code == 400 and "project" in response.json()
    experiment = f.ExperimentFactory(project=elsewhere)
    response = create(as_editor, 10, filename="a.csv", workspace=str(ws.pk), experiment=str(experiment.pk))
    assert response.status_code == 400 and "experiment" in response.json()
    assert not Upload.objects.exists()


def test_session_auth_needs_the_csrf_token(editor, ws, media):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(editor)
    page = browser.get("/uploads/new/")
    assert page.status_code == 200
    token = page.context["csrf_token"]
    headers = {"HTTP_UPLOAD_LENGTH": "3", "HTTP_UPLOAD_METADATA": meta(filename="a.txt", workspace=str(ws.pk)), **TUS}
    refused = browser.post("/api/uploads/", **headers)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    created = browser.post("/api/uploads/", HTTP_X_CSRFTOKEN=str(token), **headers)
    assert created.status_code == 201
    location = created["Location"]
    assert patch(browser, location, b"abc", 0).status_code == 403  # PATCH without the token
    done = patch(browser, location, b"abc", 0, HTTP_X_CSRFTOKEN=str(token))
    assert done.status_code == 204 and done["MolExp-Asset-Id"]


# --- names never become paths ---------------------------------------------------------------

TRAVERSAL = [
    "../../etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "data\x00.csv",
    "..",
]


@pytest.mark.parametrize("evil", TRAVERSAL)
@pytest.mark.parametrize("key", ["filename", "name"])
def test_traversal_looking_names_are_labels_or_refused(as_editor, ws, media, tmp_path, evil, key):
    before = set(tmp_path.rglob("*")) - set(media.rglob("*"))
    data = b"payload"
    pairs = {"filename": "plain.txt", key: evil}
    response = create(as_editor, len(data), workspace=str(ws.pk), **pairs)
    if response.status_code == 201:
        done = patch(as_editor, response["Location"], data, 0)
        assert done.status_code == 204
        asset = Asset.objects.get(pk=done["MolExp-Asset-Id"])
        assert "/" not in asset.file.name.removeprefix("blobs/")[6:]  # blobs/aa/bb/<sha256>
        assert asset.file.name == f"blobs/{asset.sha256[:2]}/{asset.sha256[2:4]}/{asset.sha256}"
        if key == "name":
            assert asset.name == evil  # stored as a label
    else:
        assert 400 <= response.status_code < 500 and "\x00" in evil
    # nothing was written outside MEDIA_ROOT, and inside it only server-chosen names
    assert set(tmp_path.rglob("*")) - set(media.rglob("*")) == before
    for path in media.rglob("*"):
        if path.is_file():
            rel = path.relative_to(media).as_posix()
            assert re.fullmatch(r"blobs/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}|uploads/[0-9a-f]{32}\.part", rel), rel


def test_identical_reupload_says_already_stored_as_that_version(as_editor, ws, media):
    """Issue 14 item 7: the same bytes under the same name give the stored version, and say so."""
    first_bytes, second_bytes = b"a,b\n1,2\n", b"a,b\n1,3\n"
    versions = []
    for data in (first_bytes, second_bytes, second_bytes):
        location = new_upload(as_editor, ws, data, name="table.csv")
        done = patch(as_editor, location, data, 0)
        assert done.status_code == 204
        versions.append((done["MolExp-Asset-Version"], done["MolExp-Asset-Reused"]))
        head = as_editor.head(location, **TUS)
        assert (head["MolExp-Asset-Version"], head["MolExp-Asset-Reused"]) == versions[-1]
    assert versions == [("1", "false"), ("2", "false"), ("2", "true")]
    assert DataAsset.objects.filter(name="table.csv").count() == 2


def test_the_upload_page_tells_a_reused_version_apart():
    """The page reads the same headers (no second source of truth) and words the outcome."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "templates/assets_app/upload.html").read_text()
    assert 'headerOf("MolExp-Asset-Reused") === "true"' in page and "already stored as v" in page
