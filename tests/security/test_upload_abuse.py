"""Upload abuse (SPEC §7, §11): oversize bodies, offset/checksum/length mismatches, active content.

* Oversize is refused from the headers alone, on a real server over a raw
  socket (``integration``): a tus creation or PATCH announcing too many bytes,
  a form POST and an API JSON POST announcing a huge body get their 4xx
  without the body ever being sent.
* A PATCH at the wrong offset (409), with a wrong checksum (460), a body
  shorter than its Content-Length, or one passing Upload-Length (413) never
  publishes an asset and leaves the committed offset alone.
* HTML, SVG, JavaScript, XML and polyglot (GIF+JS, PNG+HTML) files are only
  ever served as attachments, ``nosniff``, ``Content-Security-Policy: sandbox``
  and never as ``text/html`` or another active type — whatever the client
  claimed as their name or type.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import time
from urllib.parse import urlsplit

import pytest
from rest_framework.authtoken.models import Token

from assets_app.models import Asset, Upload
from assets_app.services import asset_create, blob_store_bytes

from .conftest import client_for

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def _meta(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def _create(client, world, length: int, **pairs: str):
    return client.post(
        "/api/uploads/",
        HTTP_UPLOAD_LENGTH=str(length),
        HTTP_UPLOAD_METADATA=_meta(workspace=str(world.ws.pk), filename="x.bin", **pairs),
        **TUS,
    )


def _patch(client, url: str, data: bytes, offset: int, **extra):
    return client.generic("PATCH", url, data, content_type=OCTETS, HTTP_UPLOAD_OFFSET=str(offset), **TUS, **extra)


def _checksum(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


# --- mismatches (test client) ------------------------------------------------------------------


@pytest.fixture
def editor_api(world):
    return client_for(world, "editor", api=True)


@pytest.fixture
def started(world, editor_api):
    response = _create(editor_api, world, 10)
    assert response.status_code == 201
    url = response["Location"]
    assert _patch(editor_api, url, b"01234", 0).status_code == 204
    return url


def _assert_unpublished(url: str, offset: int = 5) -> None:
    upload = Upload.objects.get(pk=url.rstrip("/").rsplit("/", 1)[1])
    assert upload.asset_id is None and upload.offset == offset
    assert not Asset.objects.filter(name="x.bin").exists()


@pytest.mark.parametrize("offset", [0, 4, 6, 10, 11, 2**62])
def test_wrong_offset_is_409(editor_api, started, offset):
    response = _patch(editor_api, started, b"56789", offset)
    assert response.status_code == 409
    _assert_unpublished(started)


@pytest.mark.parametrize(
    "header",
    [
        _checksum(b"nope!"),
        "sha256 " + base64.b64encode(b"short").decode(),
        "sha256 not-base64!!",
        "crc32 " + base64.b64encode(b"\x00\x01\x02\x03").decode(),
        "sha256",
        "",
    ],
    ids=["wrong-digest", "short-digest", "not-base64", "unsupported-algorithm", "no-digest", "empty"],
)
def test_bad_checksum_never_publishes(editor_api, started, header):
    response = _patch(editor_api, started, b"56789", 5, HTTP_UPLOAD_CHECKSUM=header)
    if header == "":  # an empty header is no checksum at all: the chunk is taken
        assert response.status_code == 204
        return
    assert response.status_code in (400, 460), response.status_code
    _assert_unpublished(started)


def test_body_past_upload_length_is_413(editor_api, started):
    response = _patch(editor_api, started, b"5678901234", 5)
    assert response.status_code == 413
    _assert_unpublished(started)


@pytest.mark.parametrize("length", ["-1", "1e3", "0x10", "", "9" * 30, "10, 20", " 1 0 "])
def test_malformed_upload_length_is_400(world, editor_api, length):
    response = editor_api.post(
        "/api/uploads/",
        HTTP_UPLOAD_LENGTH=length,
        HTTP_UPLOAD_METADATA=_meta(workspace=str(world.ws.pk), filename="x.bin"),
        **TUS,
    )
    assert response.status_code in (400, 413), response.status_code
    assert not Upload.objects.filter(filename="x.bin").exists()


@pytest.mark.parametrize("offset", ["-5", "abc", "", "5.0", "1" * 25])
def test_malformed_offset_is_refused(editor_api, started, offset):
    response = editor_api.generic("PATCH", started, b"56789", content_type=OCTETS, HTTP_UPLOAD_OFFSET=offset, **TUS)
    assert 400 <= response.status_code < 500
    _assert_unpublished(started)


def test_wrong_content_type_is_415(editor_api, started):
    response = editor_api.generic("PATCH", started, b"56789", content_type="text/html", HTTP_UPLOAD_OFFSET="5", **TUS)
    assert response.status_code == 415
    _assert_unpublished(started)


@pytest.mark.parametrize("actor", ["owner", "viewer", "outsider", "staff"])
def test_only_the_uploader_appends(world, started, actor):
    response = _patch(client_for(world, actor, api=True), started, b"56789", 5)
    if actor == "staff":  # staff may see any upload, but only a workspace editor appends
        assert response.status_code in (204, 403, 404)
        return
    assert response.status_code == 404
    _assert_unpublished(started)


def test_completed_upload_is_published_once_with_the_right_hash(editor_api, started):
    done = _patch(editor_api, started, b"56789", 5, HTTP_UPLOAD_CHECKSUM=_checksum(b"56789"))
    assert done.status_code == 204
    asset = Asset.objects.get(pk=done["MolExp-Asset-Id"])
    assert asset.sha256 == hashlib.sha256(b"0123456789").hexdigest() and asset.size == 10
    again = _patch(editor_api, started, b"x", 10)
    assert again.status_code in (409, 410, 413)
    assert Asset.objects.filter(name="x.bin").count() == 1


# --- active content is never served inline ------------------------------------------------------

GIF_JS = b"GIF89a/*\x00\x00*/=1;alert(document.domain)//" + b"\x00" * 16
PNG_HTML = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"
PAYLOADS = {
    "page.html": (b"<!doctype html><script>alert(1)</script>", "text/html"),
    "image.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
    "app.js": (b"alert(1)", "text/javascript"),
    "data.xml": (b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>', ""),
    "doc.xhtml": (b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>', ""),
    "polyglot.gif": (GIF_JS, "image/gif"),
    "polyglot.png": (PNG_HTML, "image/png"),
    "innocent.txt": (b"<html><body onload=alert(1)>", "text/plain"),
    "no-extension": (b"<script>alert(1)</script>", ""),
    "style.css": (b"body{background:url(javascript:alert(1))}", "text/css"),
}
ACTIVE = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/javascript", "application/javascript")


def _assert_attachment(response) -> None:
    assert response.status_code in (200, 206)
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    content_type = response["Content-Type"].split(";")[0].strip().lower()
    assert content_type not in ACTIVE and "html" not in content_type and "xml" not in content_type


@pytest.mark.parametrize("filename", list(PAYLOADS))
def test_uploaded_active_content_downloads_as_attachment(world, editor_api, filename):
    data, _ = PAYLOADS[filename]
    created = editor_api.post(
        "/api/uploads/",
        HTTP_UPLOAD_LENGTH=str(len(data)),
        HTTP_UPLOAD_METADATA=_meta(workspace=str(world.ws.pk), filename=filename),
        **TUS,
    )
    done = _patch(editor_api, created["Location"], data, 0)
    asset_id = done["MolExp-Asset-Id"]
    for actor in ("editor", "viewer"):
        web = client_for(world, actor, api=False)
        _assert_attachment(web.get(f"/assets/{asset_id}/download/"))
        _assert_attachment(web.get(f"/assets/{asset_id}/download/", HTTP_RANGE="bytes=0-3"))
    # The asset page previews text as escaped text, never as live markup.
    page = client_for(world, "viewer", api=False).get(f"/assets/{asset_id}/")
    assert page.status_code == 200
    assert b"<script>alert(1)</script>" not in page.content
    assert b"<body onload" not in page.content


@pytest.mark.parametrize("filename", list(PAYLOADS))
def test_stored_media_types_cannot_turn_a_download_active(world, filename):
    """Even an asset row *recorded* with an active media type (a worker's artifact) downloads inert."""
    data, media_type = PAYLOADS[filename]
    asset = asset_create(
        kind="artifact",
        name=filename,
        run=world.run,
        blob=blob_store_bytes(data),
        media_type=media_type or "text/html; charset=utf-8",
    )
    _assert_attachment(client_for(world, "viewer", api=False).get(f"/assets/{asset.pk}/download/"))


# --- oversize, on the wire (raw sockets against a live server) --------------------------------------


def _raw(live_server, head: str, *, wait: float = 6.0) -> bytes:
    """Send the request head only (no body) and return the status line the server answers with."""
    parts = urlsplit(live_server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as sock:
        sock.sendall(head.encode("latin-1"))
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            return b"(no answer before the body)"
        return data.split(b"\r\n", 1)[0]


def _head(method: str, path: str, **headers: str) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


@pytest.fixture
def live_world(world, live_server, settings):
    settings.MOLEXP_UPLOAD_MAX_SIZE = 1024**2
    return world, live_server, Token.objects.create(user=world.users["editor"]).key


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_oversize_tus_creation_is_413_from_the_headers(live_world):
    world, server, token = live_world
    meta = _meta(workspace=str(world.ws.pk), filename="huge.bin")
    line = _raw(
        server,
        _head(
            "POST",
            "/api/uploads/",
            Authorization=f"Token {token}",
            Tus_Resumable="1.0.0",
            Upload_Length=str(10**15),
            Upload_Metadata=meta,
            Content_Length="0",
        ),
    )
    assert b" 413 " in line, line
    assert not Upload.objects.filter(filename="huge.bin").exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_patch_announcing_more_than_the_upload_is_413_before_its_body(live_world):
    world, server, token = live_world
    upload_url = f"/api/uploads/{world.upload.pk}/"
    started = time.monotonic()
    line = _raw(
        server,
        _head(
            "PATCH",
            upload_url,
            Authorization=f"Token {token}",
            Tus_Resumable="1.0.0",
            Content_Type=OCTETS,
            Upload_Offset="0",
            Content_Length=str(50 * 1024**3),
        ),
    )
    assert b" 413 " in line, line
    assert time.monotonic() - started < 5
    world.upload.refresh_from_db()
    assert world.upload.offset == 0


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_huge_form_post_is_refused_before_its_body(live_world):
    """A form POST announcing more than DATA_UPLOAD_MAX_MEMORY_SIZE is a 400 from its headers alone."""
    world, server, _ = live_world
    line = _raw(
        server,
        _head(
            "POST",
            "/accounts/login/",
            Content_Type="application/x-www-form-urlencoded",
            Content_Length=str(5 * 1024**3),
        ),
    )
    assert b" 400 " in line or b" 403 " in line or b" 413 " in line, line


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_huge_api_json_post_is_refused_before_its_body(live_world):
    """An API JSON body announcing gigabytes is refused from its headers (it would be read into memory)."""
    world, server, token = live_world
    line = _raw(
        server,
        _head(
            "POST",
            "/api/projects/",
            Authorization=f"Token {token}",
            Content_Type="application/json",
            Content_Length=str(5 * 1024**3),
        ),
    )
    assert b" 400 " in line or b" 413 " in line, line
