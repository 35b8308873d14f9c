"""The API-token page shows whether a token exists and shows a new key exactly once."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def test_page_says_when_there_is_no_token(web_client_for, viewer):
    body = web_client_for("viewer").get("/account/token/").content.decode()
    assert "no API token yet" in body


def test_generate_shows_the_key_once(web_client_for, viewer):
    client = web_client_for("viewer")
    response = client.post("/account/token/")
    key = Token.objects.get(user=viewer).key
    assert key in response.content.decode()
    again = client.get("/account/token/").content.decode()
    assert key not in again
    assert "You have a token" in again


def test_regenerate_replaces_the_old_key(web_client_for, viewer):
    old = Token.objects.create(user=viewer).key
    web_client_for("viewer").post("/account/token/")
    assert Token.objects.filter(user=viewer).count() == 1
    assert Token.objects.get(user=viewer).key != old
