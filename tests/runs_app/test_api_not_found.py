"""Unknown paths under /api/ are a JSON 404 for everyone, not Django's HTML page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    ["/api/nope/", "/api/", "/api/runs/1/bogus/", "/api/workspaces/1/members/x/y/z/", "/api/nope", "/api/a%00b/"],
)
@pytest.mark.parametrize("role", ["owner", "anonymous"])
def test_unknown_api_path_is_json_404(api_client_for, users, path, role):
    response = api_client_for(role).get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_any_method_is_json_404(api_client_for, users, method):
    response = getattr(api_client_for("owner"), method)("/api/nope/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_get_without_trailing_slash_still_redirects(api_client_for, users):
    response = api_client_for("owner").get("/api/runs?status=failed")
    assert response.status_code == 301
    assert response["Location"] == "/api/runs/?status=failed"


def test_post_without_trailing_slash_is_json_404(api_client_for, users):
    response = api_client_for("owner").post("/api/workspaces", {"name": "x"}, format="json")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_pages_outside_api_keep_html_404(client, users):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "application/json" not in response["Content-Type"]
