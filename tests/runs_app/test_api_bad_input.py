"""Bad input never makes a 500: odd ids, filters, pages and bodies answer JSON 400/404/405/415."""

from __future__ import annotations

import pytest

DETAIL_URLS = [
    "/api/workspaces/{pk}/",
    "/api/workspaces/{pk}/members/",
    "/api/projects/{pk}/",
    "/api/experiments/{pk}/",
    "/api/runs/{pk}/",
    "/api/runs/{pk}/history/",
]
ODD_IDS = ["abc", "0", "-1", "1.5", "1e3", "99999999999999999999999", "%20", "nul%00l"]


@pytest.mark.parametrize("pk", ODD_IDS)
@pytest.mark.parametrize("url", DETAIL_URLS)
def test_odd_ids_in_paths_are_json_404(api_client_for, run, url, pk):
    response = api_client_for("owner").get(url.format(pk=pk))
    assert response.status_code == 404
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "/api/runs/?experiment=abc",
        "/api/runs/?project=1;drop",
        "/api/runs/?workspace=NaN",
        "/api/runs/?status=bogus",
        "/api/runs/?experiment=Infinity",
        "/api/projects/?workspace=x",
        "/api/experiments/?project=x",
        "/api/experiments/?workspace=[]",
        "/api/runs/?experiment=99999999999999999999999",
        "/api/runs/?experiment=1.5",
        "/api/runs/?profile=%00",
    ],
)
def test_malformed_filters_are_400(api_client_for, run, query):
    response = api_client_for("owner").get(query)
    assert response.status_code == 400
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "/api/runs/?experiment=-5",
        "/api/runs/?experiment=9223372036854775807",
        "/api/runs/?config_hash=" + "x" * 5000,
        "/api/runs/?page_size=abc",
        "/api/runs/?page_size=-1",
        "/api/runs/?unknown=1",
    ],
)
def test_odd_but_wellformed_filters_answer_200(api_client_for, run, query):
    response = api_client_for("owner").get(query)
    assert response.status_code == 200
    assert "results" in response.json()


@pytest.mark.parametrize("page", ["abc", "0", "99", "-1"])
def test_bad_page_numbers_are_json_404(api_client_for, run, page):
    response = api_client_for("owner").get(f"/api/runs/?page={page}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


@pytest.mark.parametrize(
    "url", ["/api/workspaces/", "/api/projects/", "/api/experiments/", "/api/workspaces/{ws}/members/"]
)
def test_malformed_json_is_400(api_client_for, ws, url):
    response = api_client_for("owner").post(url.format(ws=ws.pk), data='{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


@pytest.mark.parametrize("url", ["/api/workspaces/", "/api/projects/", "/api/experiments/"])
@pytest.mark.parametrize("body", ["[1, 2]", "null", "42", '"text"'])
def test_non_object_json_bodies_are_400(api_client_for, ws, url, body):
    response = api_client_for("owner").post(url, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_unsupported_media_type_is_415(api_client_for, ws):
    response = api_client_for("owner").post("/api/workspaces/", data="name=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("put", "/api/workspaces/{ws}/"),  # DELETE moves it into the trash (SPEC §14)
        ("delete", "/api/runs/"),
        ("put", "/api/runs/{run}/"),
        ("post", "/api/runs/"),
        ("put", "/api/projects/{p}/"),  # PATCH edits a project (SPEC §14); a whole-object PUT does not exist
    ],
)
def test_unsupported_methods_are_405(api_client_for, ws, project, run, method, url):
    response = getattr(api_client_for("owner"), method)(url.format(ws=ws.pk, run=run.pk, p=project.pk))
    assert response.status_code == 405
    assert response.json()["detail"]
