"""POST /api/auth/token/ exchanges a username and password for a token that authenticates later calls."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def anon():
    return APIClient()


def test_token_is_returned_for_good_credentials_and_is_stable(anon, owner):
    first = anon.post("/api/auth/token/", {"username": "owner", "password": "pw-for-tests-1"}, format="json")
    second = anon.post("/api/auth/token/", {"username": "owner", "password": "pw-for-tests-1"}, format="json")
    assert first.status_code == 200
    assert set(first.json()) == {"token"}
    assert first.json()["token"] == second.json()["token"]


def test_token_authenticates_api_calls(anon, owner, ws):
    token = anon.post("/api/auth/token/", {"username": "owner", "password": "pw-for-tests-1"}, format="json")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    response = client.get("/api/workspaces/")
    assert response.status_code == 200
    assert [w["slug"] for w in response.json()["results"]] == ["lab"]


def test_bad_password_is_400_with_detail(anon, owner):
    response = anon.post("/api/auth/token/", {"username": "owner", "password": "wrong"}, format="json")
    assert response.status_code == 400
    assert "Unable to log in" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "owner"}, {"password": "x"}, {"username": ["a"], "password": {"b": 1}}],
    ids=["empty", "no-password", "no-username", "wrong-types"],
)
def test_incomplete_credentials_are_400(anon, owner, body):
    response = anon.post("/api/auth/token/", body, format="json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_malformed_json_is_400(anon, owner):
    response = anon.post("/api/auth/token/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_wrong_token_is_401(ws):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    response = client.get("/api/workspaces/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_session_login_also_authenticates(client, owner, ws):
    client.force_login(owner)
    assert client.get("/api/workspaces/").status_code == 200
