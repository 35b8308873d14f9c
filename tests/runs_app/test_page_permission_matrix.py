"""Every HTML page × GET/POST × owner/editor/viewer/outsider/anonymous.

Anonymous users are sent to the login page; outsiders get 404 for anything in
a workspace they are not a member of; viewers read but cannot create (403);
editors create projects and experiments; only owners change members.
"""

from __future__ import annotations

import pytest

from tests import factories as f

pytestmark = pytest.mark.django_db

MEMBERS = ("owner", "editor", "viewer")

EXP = "/w/lab/p/qm9/e/baseline/"

# url, {role: expected GET status}; roles not listed expect 200 ("anonymous" always 302).
GET_MATRIX = [
    ("/", {}),
    ("/w/new/", {}),
    ("/w/lab/", {"outsider": 404}),
    ("/w/lab/members/", {"outsider": 404}),
    ("/w/lab/p/new/", {"viewer": 403, "outsider": 404}),
    ("/w/lab/p/qm9/", {"outsider": 404}),
    ("/w/lab/p/qm9/e/new/", {"viewer": 403, "outsider": 404}),
    (EXP, {"outsider": 404}),
    (EXP + "runs/1/", {"outsider": 404}),
    ("/runs/{run}/", {"owner": 302, "editor": 302, "viewer": 302, "outsider": 404}),
    ("/runs/{run}/status/", {"outsider": 404}),
    ("/account/token/", {}),
    ("/catalog/", {}),
    ("/assets/{asset}/", {"outsider": 404}),
]

# url, POST data, {role: expected status}
POST_MATRIX = [
    ("/w/new/", {"name": "Spectra"}, {"owner": 302, "editor": 302, "viewer": 302, "outsider": 302}),
    (
        "/w/lab/members/",
        {"action": "add", "add-username": "newcomer", "add-role": "viewer"},
        {"owner": 302, "editor": 403, "viewer": 403, "outsider": 404},
    ),
    (
        "/w/lab/members/",
        {"action": "remove", "username": "viewer"},
        {"owner": 302, "editor": 403, "viewer": 403, "outsider": 404},
    ),
    ("/w/lab/p/new/", {"name": "Docking"}, {"owner": 302, "editor": 302, "viewer": 403, "outsider": 404}),
    (
        "/w/lab/p/qm9/e/new/",
        {"name": "Sweep", "workflow_source": "featurize.py"},
        {"owner": 302, "editor": 302, "viewer": 403, "outsider": 404},
    ),
    ("/account/token/", {}, {"owner": 200, "editor": 200, "viewer": 200, "outsider": 200}),
    # Read-only pages refuse POST, before any lookup.
    ("/", {}, {r: 405 for r in (*MEMBERS, "outsider")}),
    ("/w/lab/", {}, {r: 405 for r in (*MEMBERS, "outsider")}),
    ("/w/lab/p/qm9/", {}, {r: 405 for r in (*MEMBERS, "outsider")}),
    (EXP, {}, {r: 405 for r in (*MEMBERS, "outsider")}),
    (EXP + "runs/1/", {}, {r: 405 for r in (*MEMBERS, "outsider")}),
    ("/runs/{run}/", {}, {r: 405 for r in (*MEMBERS, "outsider")}),
    ("/runs/{run}/status/", {}, {r: 405 for r in (*MEMBERS, "outsider")}),
    ("/catalog/", {}, {r: 405 for r in (*MEMBERS, "outsider")}),
    ("/assets/{asset}/", {}, {r: 405 for r in (*MEMBERS, "outsider")}),
]


@pytest.fixture
def pages(settings, tmp_path, run, ws):
    (tmp_path / "featurize.py").write_text("# a workflow\n")
    settings.MOLEXP_WORKFLOW_DIRS = [str(tmp_path)]
    f.UserFactory(username="newcomer")
    asset = f.AssetFactory(workspace=ws)
    return {"run": run.pk, "asset": asset.pk}


@pytest.mark.parametrize("role", [*MEMBERS, "outsider", "anonymous"])
@pytest.mark.parametrize(("url", "expected"), GET_MATRIX, ids=[u for u, _ in GET_MATRIX])
def test_get_follows_role(pages, web_client_for, role, url, expected):
    response = web_client_for(role).get(url.format(**pages))
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == expected.get(role, 200)


@pytest.mark.parametrize("role", [*MEMBERS, "outsider", "anonymous"])
@pytest.mark.parametrize(("url", "data", "expected"), POST_MATRIX, ids=[f"{u}-{sorted(d)}" for u, d, _ in POST_MATRIX])
def test_post_follows_role(pages, web_client_for, role, url, data, expected):
    response = web_client_for(role).post(url.format(**pages), data)
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == expected[role], response.content[:500]
