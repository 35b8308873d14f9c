"""Every HTML form refuses a POST without a CSRF token (403)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

FORMS = [
    ("/accounts/login/", {"username": "owner", "password": "pw-for-tests-1"}),
    ("/accounts/logout/", {}),
    ("/w/new/", {"name": "Spectra"}),
    ("/w/lab/members/", {"action": "add", "add-username": "viewer", "add-role": "editor"}),
    ("/w/lab/p/new/", {"name": "Docking"}),
    ("/w/lab/p/qm9/e/new/", {"name": "Sweep", "workflow_source": "featurize.py"}),
    ("/account/token/", {}),
]


@pytest.mark.parametrize(("url", "data"), FORMS, ids=[u for u, _ in FORMS])
def test_post_without_csrf_token_is_refused(settings, tmp_path, owner, project, url, data):
    (tmp_path / "featurize.py").write_text("# a workflow\n")
    settings.MOLEXP_WORKFLOW_DIRS = [str(tmp_path)]
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(url, data).status_code == 403


def test_post_with_csrf_token_is_accepted(owner, ws):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    token = client.get("/w/new/").context["csrf_token"]
    response = client.post("/w/new/", {"name": "Spectra", "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
