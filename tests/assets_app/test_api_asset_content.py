"""GET /api/assets/{id}/content/: the asset's bytes over the API (token auth), as safely as the download page."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assets_app.services import asset_create, blob_store_bytes

BODY = b"<html><script>alert(1)</script></html>"


@pytest.fixture
def page_asset(ws, tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    return asset_create(kind="data", name="evil.html", workspace=ws, blob=blob_store_bytes(BODY))


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["*/*", "application/octet-stream", "application/json", "text/html"])
def test_bytes_as_a_sandboxed_attachment_whatever_the_accept_header(page_asset, viewer, accept):
    response = _token_client(viewer).get(f"/api/assets/{page_asset.pk}/content/", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == BODY
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db
def test_range(page_asset, editor):
    response = _token_client(editor).get(f"/api/assets/{page_asset.pk}/content/", HTTP_RANGE="bytes=0-5")
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == BODY[:6]
    assert response["Content-Range"] == f"bytes 0-5/{len(BODY)}"


@pytest.mark.django_db
def test_outsider_and_anonymous(page_asset, outsider, other_ws):
    for accept in ("*/*", "application/octet-stream", "text/html"):
        response = _token_client(outsider).get(f"/api/assets/{page_asset.pk}/content/", HTTP_ACCEPT=accept)
        assert response.status_code == 404 and response["Content-Type"] == "application/json"
        assert response.json()["detail"]
    assert APIClient().get(f"/api/assets/{page_asset.pk}/content/").status_code == 401
