"""Downloads: HTTP Range (206/416/200), attachment, nosniff and a sandboxing CSP, scoped to members."""

from __future__ import annotations

import pytest

from assets_app.services import asset_create, blob_store_bytes

DATA = bytes(range(256)) * 4  # 1024 bytes


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
def asset(ws, media):
    return asset_create(kind="data", name="../../etc/table.csv", workspace=ws, blob=blob_store_bytes(DATA))


@pytest.fixture
def owner_client(web_client_for):
    return web_client_for("owner")


def url(asset) -> str:
    return f"/assets/{asset.pk}/download/"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def assert_safe_headers(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Accept-Ranges"] == "bytes"


def test_without_range_the_whole_file(owner_client, asset):
    response = owner_client.get(url(asset))
    assert response.status_code == 200 and body(response) == DATA
    assert_safe_headers(response)
    assert 'filename="table.csv"' in response["Content-Disposition"]
    assert response["ETag"] == f'"{asset.sha256}"'


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-9", 0, 9), ("bytes=1000-", 1000, 1023), ("bytes=-24", 1000, 1023), ("bytes=10-99999", 10, 1023),
     ("bytes=1023-1023", 1023, 1023), ("bytes=-5000", 0, 1023)],
)  # fmt: skip
def test_single_range_is_206(owner_client, asset, header, first, last):
    response = owner_client.get(url(asset), HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/1024"
    assert response["Content-Length"] == str(last - first + 1)
    assert body(response) == DATA[first : last + 1]
    assert_safe_headers(response)


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_range_is_416(owner_client, asset, header):
    response = owner_client.get(url(asset), HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */1024"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=9-2", "items=0-5", "bytes=abc", "bytes=-"])
def test_other_ranges_are_ignored(owner_client, asset, header):
    response = owner_client.get(url(asset), HTTP_RANGE=header)
    assert response.status_code == 200 and body(response) == DATA


def test_if_range_that_no_longer_matches_gives_the_whole_file(owner_client, asset):
    stale = owner_client.get(url(asset), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"0000"')
    assert stale.status_code == 200 and body(stale) == DATA
    fresh = owner_client.get(url(asset), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=f'"{asset.sha256}"')
    assert fresh.status_code == 206


@pytest.mark.parametrize(("name", "media_type"), [("page.html", "text/html"), ("pic.svg", "image/svg+xml"),
                                                  ("feed.xml", "text/xml")])  # fmt: skip
def test_active_content_is_served_as_opaque_bytes(owner_client, ws, media, name, media_type):
    html = b"<html><script>alert(1)</script></html>"
    active = asset_create(kind="data", name=name, workspace=ws, blob=blob_store_bytes(html), media_type=media_type)
    for extra in ({}, {"HTTP_RANGE": "bytes=0-5"}):
        response = owner_client.get(url(active), **extra)
        assert response["Content-Type"] == "application/octet-stream"
        assert_safe_headers(response)


@pytest.mark.parametrize(("role", "status"), [("viewer", 206), ("outsider", 404), ("anonymous", 302)])
def test_range_download_is_scoped(web_client_for, asset, role, status):
    response = web_client_for(role).get(url(asset), HTTP_RANGE="bytes=0-9")
    assert response.status_code == status
