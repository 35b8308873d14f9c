"""The data library tab of the workspace, project and experiment pages, and the asset page's lineage."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, reverse

from assets_app.services import asset_create, asset_resolve_for_run, blob_store_bytes
from tests import factories as f

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
URLS = {
    "workspace": "/library/lab/",
    "project": "/library/lab/qm9/",
    "experiment": "/library/lab/qm9/baseline/",
}
PAGES = {
    "workspace": "/w/lab/",
    "project": "/w/lab/p/qm9/",
    "experiment": "/w/lab/p/qm9/e/baseline/",
}


@pytest.fixture
def library(ws, project, experiment, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    asset_create(kind="data", name="ws.csv", workspace=ws, tags=["raw"])
    asset_create(kind="data", name="ligands.csv", project=project, tags=["qm9"])
    newest = asset_create(kind="data", name="ligands.csv", project=project, metadata={"n": 2}, tags=["clean"],
                          blob=blob_store_bytes(b"v2"))  # fmt: skip
    asset_create(kind="data", name="exp.json", experiment=experiment)
    asset_create(kind="artifact", name="not-data.pt", project=project)
    return newest


def _upload_exists() -> bool:
    try:
        reverse("assets:upload")
    except NoReverseMatch:
        return False
    return True


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("editor", 200), ("viewer", 200),
                                              ("outsider", 404), ("anonymous", 302)])  # fmt: skip
@pytest.mark.parametrize("scope", ["workspace", "project", "experiment"])
def test_fragment_permission_matrix(web_client_for, library, other_ws, role, status, scope):
    response = web_client_for(role).get(URLS[scope], **HTMX)
    assert response.status_code == status
    if status != 200:
        assert b"ligands" not in response.content


def test_fragment_lists_the_newest_version_per_name_of_exactly_that_scope(web_client_for, library):
    response = web_client_for("viewer").get(URLS["project"], **HTMX)
    body = response.content.decode()
    assert "<html" not in body and 'id="data-library"' in body
    assert "ligands.csv" in body and "2 versions" in body and "v2" in body
    assert f"/assets/{library.pk}/" in body and library.sha256[:12] in body and "clean" in body
    assert "ws.csv" not in body and "exp.json" not in body and "not-data.pt" not in body
    assert "kind=data" in body and f"project={library.project_id}" in body


def test_each_scope_shows_its_own_assets(web_client_for, library):
    client = web_client_for("viewer")
    assert "ws.csv" in client.get(URLS["workspace"], **HTMX).content.decode()
    assert "exp.json" in client.get(URLS["experiment"], **HTMX).content.decode()


def test_empty_library_says_so(web_client_for, experiment):
    body = web_client_for("viewer").get(URLS["experiment"], **HTMX).content.decode()
    assert "No data assets in this experiment yet." in body


def test_plain_request_gets_a_full_page(web_client_for, library):
    body = web_client_for("viewer").get(URLS["project"]).content.decode()
    assert "<html" in body and "Data library" in body and "ligands.csv" in body


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_upload_link_only_for_editors_when_the_page_exists(web_client_for, library, role):
    response = web_client_for(role).get(URLS["workspace"], **HTMX)
    shown = bool(response.context["upload_url"])
    assert shown == (_upload_exists() and role != "viewer")
    if shown:
        assert response.context["upload_url"] in response.content.decode()


def test_query_count_is_constant(web_client_for, project, library, django_assert_num_queries):
    client = web_client_for("viewer")
    client.get(URLS["project"], **HTMX)  # warm the session
    with django_assert_num_queries(5):
        client.get(URLS["project"], **HTMX)
    for i in range(15):
        asset_create(kind="data", name=f"more-{i}.csv", project=project)
        asset_create(kind="data", name=f"more-{i}.csv", project=project, metadata={"v": 2})
    with django_assert_num_queries(5):
        assert "more-14.csv" in client.get(URLS["project"], **HTMX).content.decode()


@pytest.mark.parametrize("scope", ["workspace", "project", "experiment"])
def test_pages_load_the_tab_with_htmx_and_a_link_fallback(web_client_for, library, scope):
    body = web_client_for("viewer").get(PAGES[scope]).content.decode()
    assert f'hx-get="{URLS[scope]}" hx-trigger="load"' in body
    assert f'href="{URLS[scope]}"' in body


def test_asset_page_lineage_shows_producer_and_users_of_this_version(web_client_for, run, experiment, project):
    execution = f.ExecutionFactory(run=run, number=3)
    produced = asset_create(kind="artifact", name="model.pt", run=run, producer_execution=execution,
                            producer_task="train")  # fmt: skip
    body = web_client_for("viewer").get(f"/assets/{produced.pk}/").content.decode()
    assert f"{run.experiment.name} #1</a>, execution 3, task <code>train</code>" in body  # SPEC §15: one run identity
    data = asset_create(kind="data", name="d.csv", project=project)
    users = [f.RunFactory(experiment=experiment, number=n) for n in (7, 8)]
    for r in users:
        asset_resolve_for_run(run=r, execution=None, task="featurize", name="d.csv")
    body = web_client_for("viewer").get(f"/assets/{data.pk}/").content.decode()
    assert "/runs/7/" in body and "/runs/8/" in body and f"/api/assets/{data.pk}/lineage/" in body
