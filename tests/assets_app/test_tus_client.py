"""tus conformance with a real client: tuspy against the live server (token auth), plus raw-socket aborts."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import time
from urllib.parse import urlsplit

import pytest
from rest_framework.authtoken.models import Token
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError
from tusclient.uploader import Uploader

from assets_app.choices import UploadStatus
from assets_app.models import Asset, DataAsset, Upload

pytestmark = pytest.mark.django_db(transaction=True)

CHUNK = 256 * 1024


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


@pytest.fixture
def tus(live_server, editor, ws, media):
    token = Token.objects.create(user=editor)
    return tus_client.TusClient(f"{live_server.url}/api/uploads/", headers={"Authorization": f"Token {token.key}"})


def payload(n: int, seed: int = 1) -> bytes:
    return hashlib.sha256(str(seed).encode()).digest() * (n // 32) + b"!" * (n % 32)


def upload_bytes(tus, data: bytes, ws, **kwargs) -> Uploader:
    metadata = {"filename": "ligands.csv", "workspace": str(ws.pk), **kwargs.pop("metadata", {})}
    uploader = tus.uploader(file_stream=io.BytesIO(data), chunk_size=CHUNK, metadata=metadata, **kwargs)
    uploader.upload()
    return uploader


def test_full_upload_with_tuspy_registers_the_data_asset(tus, ws, editor):
    data = payload(1_300_000)
    uploader = upload_bytes(tus, data, ws, upload_checksum=True, metadata={"tags": "raw"})
    asset_id = uploader.request.response_headers["molexp-asset-id"]
    asset = DataAsset.objects.get(pk=asset_id)
    assert asset.sha256 == hashlib.sha256(data).hexdigest() and asset.size == len(data)
    assert (asset.name, asset.version, asset.tags, asset.created_by) == ("ligands.csv", 1, ["raw"], editor)
    assert asset.read_bytes() == data
    assert Upload.objects.get().status == UploadStatus.COMPLETE


def test_interrupted_upload_resumes_from_the_server_offset_with_a_new_client(tus, live_server, ws, editor):
    data = payload(1_000_000, seed=2)
    first = tus.uploader(
        file_stream=io.BytesIO(data), chunk_size=CHUNK, metadata={"filename": "big.bin", "workspace": str(ws.pk)}
    )
    first.upload(stop_at=2 * CHUNK)  # two chunks, then the "connection drops"
    url = first.url
    assert Upload.objects.get().offset == 2 * CHUNK and not Asset.objects.exists()

    token = Token.objects.get(user=editor)
    fresh = tus_client.TusClient(f"{live_server.url}/api/uploads/", headers={"Authorization": f"Token {token.key}"})
    second = Uploader(file_stream=io.BytesIO(data), url=url, client=fresh, chunk_size=CHUNK)
    assert second.offset == 2 * CHUNK  # asked the server with HEAD
    second.upload()
    asset = DataAsset.objects.get()
    assert asset.version == 1 and asset.sha256 == hashlib.sha256(data).hexdigest()
    assert Upload.objects.count() == 1


def test_same_bytes_give_the_same_version_and_different_bytes_the_next(tus, ws):
    one = upload_bytes(tus, payload(300_000, seed=3), ws)
    again = upload_bytes(tus, payload(300_000, seed=3), ws)
    other = upload_bytes(tus, payload(300_000, seed=4), ws)
    first_id = one.request.response_headers["molexp-asset-id"]
    assert again.request.response_headers["molexp-asset-id"] == first_id
    v2 = Asset.objects.get(pk=other.request.response_headers["molexp-asset-id"])
    assert v2.version == 2 and v2.name == "ligands.csv"
    assert Asset.objects.count() == 2


def test_wrong_checksum_from_a_client_is_460_and_nothing_is_published(tus, ws):
    class LyingUploader(Uploader):
        CHECKSUM_ALGORITHM_PAIR = ("sha256", lambda chunk: hashlib.sha256(chunk + b"tampered"))

    data = payload(100_000, seed=5)
    uploader = LyingUploader(
        file_stream=io.BytesIO(data),
        client=tus,
        chunk_size=CHUNK,
        metadata={"filename": "x.bin", "workspace": str(ws.pk)},
        upload_checksum=True,
    )
    with pytest.raises(Exception) as info:
        uploader.upload()
    assert getattr(info.value, "status_code", None) == 460
    assert Upload.objects.get().offset == 0 and not Asset.objects.exists()


def test_forbidden_target_fails_the_client(live_server, viewer, ws, media):
    token = Token.objects.create(user=viewer)
    client = tus_client.TusClient(f"{live_server.url}/api/uploads/", headers={"Authorization": f"Token {token.key}"})
    with pytest.raises(TusCommunicationError) as info:
        upload_bytes(client, b"abc", ws)
    assert info.value.status_code == 403


# --- raw sockets: what a dropped connection and an oversize request look like on the wire ---------


def raw_request(live_server, head: str, body: bytes = b"", *, close_after_send: bool = False) -> bytes:
    host, port = urlsplit(live_server.url).hostname, urlsplit(live_server.url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body)
        if close_after_send:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except TimeoutError:
            pass
        return b"".join(chunks)


def headers_for(method: str, path: str, token: str, **extra: str) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Token {token}", "Tus-Resumable: 1.0.0"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in extra.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def test_client_abort_mid_body_keeps_only_received_bytes_and_never_publishes(live_server, editor, ws, media):
    token = Token.objects.create(user=editor).key
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                    {"filename": "cut.bin", "workspace": str(ws.pk)}.items())  # fmt: skip
    created = raw_request(live_server, headers_for("POST", "/api/uploads/", token, Upload_Length="1000000",
                                                   Upload_Metadata=meta, Content_Length="0"))  # fmt: skip
    assert created.startswith(b"HTTP/1.1 201") or created.startswith(b"HTTP/1.0 201"), created[:200]
    location = next(line.split(b":", 1)[1].strip().decode() for line in created.split(b"\r\n")
                    if line.lower().startswith(b"location:"))  # fmt: skip
    sent = os.urandom(300_000)
    raw_request(
        live_server,
        headers_for("PATCH", location, token, Content_Type="application/offset+octet-stream", Upload_Offset="0",
                    Content_Length="1000000"),
        sent,
        close_after_send=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while Upload.objects.get().offset != len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    upload = Upload.objects.get()
    assert upload.offset == len(sent) and upload.status == UploadStatus.RECEIVING
    assert (media / upload.partial_name).read_bytes() == sent
    assert not Asset.objects.exists()


def test_oversize_is_refused_before_the_body_is_sent(live_server, editor, ws, media, settings):
    settings.MOLEXP_UPLOAD_MAX_SIZE = 10 * 1024**2
    token = Token.objects.create(user=editor).key
    meta = (
        f"filename {base64.b64encode(b'huge.bin').decode()},workspace {base64.b64encode(str(ws.pk).encode()).decode()}"
    )
    started = time.monotonic()
    answer = raw_request(live_server, headers_for("POST", "/api/uploads/", token, Upload_Length=str(10**12),
                                                  Upload_Metadata=meta, Content_Length="0"))  # fmt: skip
    assert b" 413 " in answer.split(b"\r\n")[0]
    # a PATCH announcing more than the upload's length is answered without waiting for its body
    created = raw_request(live_server, headers_for("POST", "/api/uploads/", token, Upload_Length="100",
                                                   Upload_Metadata=meta, Content_Length="0"))  # fmt: skip
    location = next(line.split(b":", 1)[1].strip().decode() for line in created.split(b"\r\n")
                    if line.lower().startswith(b"location:"))  # fmt: skip
    answer = raw_request(
        live_server,
        headers_for("PATCH", location, token, Content_Type="application/offset+octet-stream", Upload_Offset="0",
                    Content_Length=str(5 * 1024**3)),
    )  # fmt: skip
    assert b" 413 " in answer.split(b"\r\n")[0]
    assert time.monotonic() - started < 8
    assert Upload.objects.get().offset == 0
