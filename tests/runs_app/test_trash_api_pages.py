"""The trash through the API and the pages (SPEC §14): DELETE → 204, /api/trash/, the Delete… and Trash pages."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from assets_app import services as asset_services
from assets_app.models import Asset
from runs_app.choices import AuditAction, RunStatus
from runs_app.models import AuditEvent, Experiment, Project, Run, TrashEntry, Workspace
from tests import factories as f


@pytest.fixture
def media(settings, tmp_path):
    settings.MOLEXP_GC_GRACE_SECONDS = 0
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": settings.MEDIA_ROOT},
        },
    }


def _api(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def artifact(run, media):
    return asset_services.asset_create(kind="artifact", name="m.bin", run=run,
                                       blob=asset_services.blob_store_bytes(b"bytes"))  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["workspace", "project", "experiment", "run", "asset"])
def test_api_delete_is_204_for_owners_403_for_members_404_for_outsiders(kind, ws, owner, editor, viewer, outsider,
                                                                        project, experiment, run, artifact):  # fmt: skip
    obj = {"workspace": ws, "project": project, "experiment": experiment, "run": run, "asset": artifact}[kind]
    url = f"/api/{kind}s/{obj.pk}/"
    assert _api(outsider).delete(url).status_code == 404
    assert _api(None).delete(url).status_code == 401
    assert _api(viewer).delete(url).status_code == 403
    assert _api(editor).delete(url).status_code == 403  # the run was not launched by the editor
    assert not TrashEntry.objects.exists()
    assert _api(owner).delete(url).status_code == 204
    assert _api(owner).get(url).status_code == 404
    assert _api(owner).delete(url).status_code == 404  # already in the trash
    entry = TrashEntry.objects.get()
    assert (entry.object_type, entry.object_id, entry.deleted_by_id) == (kind, obj.pk, owner.pk)


@pytest.mark.django_db
def test_an_editor_deletes_a_run_they_launched_through_the_api(ws, editor, experiment):
    run = f.RunFactory(experiment=experiment, number=1, launched_by=editor, status=RunStatus.SUCCEEDED)
    assert _api(editor).delete(f"/api/runs/{run.pk}/").status_code == 204
    assert not Run.objects.filter(pk=run.pk).exists()
    assert AuditEvent.objects.get().action == AuditAction.TRASH_DELETE


@pytest.mark.django_db
def test_api_trash_list_restore_and_purge(ws, owner, editor, viewer, outsider, experiment, run, artifact,
                                          django_capture_on_commit_callbacks):  # fmt: skip
    assert _api(owner).delete(f"/api/runs/{run.pk}/").status_code == 204
    entry = TrashEntry.objects.get()
    assert _api(owner).get("/api/trash/").status_code == 400
    assert _api(owner).get("/api/trash/?workspace=abc").status_code == 400
    assert _api(outsider).get(f"/api/trash/?workspace={ws.pk}").status_code == 404
    for member in (viewer, editor):
        assert _api(member).get(f"/api/trash/?workspace={ws.pk}").status_code == 403
        assert _api(member).post(f"/api/trash/{entry.pk}/restore/").status_code == 403
        assert _api(member).delete(f"/api/trash/{entry.pk}/").status_code == 403
    assert _api(outsider).post(f"/api/trash/{entry.pk}/restore/").status_code == 404
    body = _api(owner).get(f"/api/trash/?workspace={ws.pk}").json()
    [row] = body["results"]
    assert row["id"] == entry.pk and row["object_type"] == "run" and row["run"] == run.pk
    assert row["deleted_by"] == "owner" and row["purge_after"]

    response = _api(owner).post(f"/api/trash/{entry.pk}/restore/")
    assert response.status_code == 200 and response.json() == {"restored": {"run": 1, "asset": 1}}
    assert _api(owner).get(f"/api/runs/{run.pk}/").status_code == 200
    assert _api(owner).post(f"/api/trash/{entry.pk}/restore/").status_code == 404  # the entry is gone

    assert _api(owner).delete(f"/api/experiments/{experiment.pk}/").status_code == 204
    entry = TrashEntry.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert _api(owner).delete(f"/api/trash/{entry.pk}/").status_code == 204
    assert not Experiment.all_objects.exists() and not Asset.all_objects.exists()
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["trash.delete", "trash.restore", "trash.delete", "trash.purge"]


@pytest.mark.django_db
def test_a_deleted_workspace_is_listed_and_restored_through_its_trash(ws, owner):
    assert _api(owner).delete(f"/api/workspaces/{ws.pk}/").status_code == 204
    assert _api(owner).get("/api/workspaces/").json()["count"] == 0
    [row] = _api(owner).get(f"/api/trash/?workspace={ws.pk}").json()["results"]
    assert _api(owner).post(f"/api/trash/{row['id']}/restore/").status_code == 200
    assert _api(owner).get(f"/api/workspaces/{ws.pk}/").status_code == 200


@pytest.mark.django_db
def test_restore_while_the_parent_is_in_the_trash_is_409(ws, owner, experiment, run):
    _api(owner).delete(f"/api/runs/{run.pk}/")
    run_entry = TrashEntry.objects.get()
    _api(owner).delete(f"/api/experiments/{experiment.pk}/")
    response = _api(owner).post(f"/api/trash/{run_entry.pk}/restore/")
    assert response.status_code == 409 and "restore the experiment first" in response.json()["detail"]


@pytest.mark.django_db
def test_trash_list_query_count_is_constant(ws, owner, project, django_assert_max_num_queries):
    experiments = [f.ExperimentFactory(project=project) for _ in range(30)]
    for exp in experiments:
        _api(owner).delete(f"/api/experiments/{exp.pk}/")
    client = _api(owner)
    # session/auth-free client: workspace lookup, role, page, count
    with django_assert_max_num_queries(5):
        body = client.get(f"/api/trash/?workspace={ws.pk}").json()
    assert body["count"] == 30 and len(body["results"]) >= 25
    web = Client()
    web.force_login(owner)
    with django_assert_max_num_queries(8):
        assert web.get("/w/lab/trash/").status_code == 200


# --- pages -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_delete_buttons_show_for_those_allowed(ws, owner, editor, viewer, project, experiment, artifact,
                                               web_client_for):  # fmt: skip
    mine = f.RunFactory(experiment=experiment, number=5, launched_by=editor, status=RunStatus.SUCCEEDED)
    pages = {
        "/w/lab/": "/w/lab/delete/",
        "/w/lab/p/qm9/": "/w/lab/p/qm9/delete/",
        "/w/lab/p/qm9/e/baseline/": "/w/lab/p/qm9/e/baseline/delete/",
        f"/w/lab/p/qm9/e/baseline/runs/{mine.number}/": f"/runs/{mine.pk}/delete/",
        f"/assets/{artifact.pk}/": f"/assets/{artifact.pk}/delete/",
    }
    for page, link in pages.items():
        assert link in web_client_for("owner").get(page).content.decode(), page
        assert link not in web_client_for("viewer").get(page).content.decode(), page
        shown = link in web_client_for("editor").get(page).content.decode()
        assert shown == (link == f"/runs/{mine.pk}/delete/"), page  # an editor: their own run only


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["workspace", "project", "experiment", "run", "asset"])
def test_delete_page_confirms_then_deletes(kind, ws, owner, viewer, project, experiment, run, artifact,
                                           web_client_for):  # fmt: skip
    url, after = {
        "workspace": ("/w/lab/delete/", "/w/lab/trash/"),
        "project": ("/w/lab/p/qm9/delete/", "/w/lab/"),
        "experiment": ("/w/lab/p/qm9/e/baseline/delete/", "/w/lab/p/qm9/"),
        "run": (f"/runs/{run.pk}/delete/", "/w/lab/p/qm9/e/baseline/"),
        "asset": (f"/assets/{artifact.pk}/delete/", "/catalog/"),
    }[kind]
    assert web_client_for("viewer").get(url).status_code == 403
    assert web_client_for("viewer").post(url).status_code == 403
    assert web_client_for("outsider").post(url).status_code == 404
    owner_client = web_client_for("owner")
    page = owner_client.get(url)
    assert page.status_code == 200 and b'method="post"' in page.content and b"csrfmiddlewaretoken" in page.content
    assert not TrashEntry.objects.exists()
    response = owner_client.post(url)
    assert response.status_code == 302 and response["Location"] == after
    assert TrashEntry.objects.get().object_type == kind
    assert owner_client.get(url).status_code == 404


@pytest.mark.django_db
def test_trash_page_restores_and_purges_for_owners_only(ws, owner, project, experiment, run, artifact,
                                                        web_client_for, django_capture_on_commit_callbacks):  # fmt: skip
    owner_client = web_client_for("owner")
    owner_client.post(f"/runs/{run.pk}/delete/")
    owner_client.post("/w/lab/p/qm9/delete/")
    run_entry, project_entry = TrashEntry.objects.order_by("id")
    for role in ("viewer", "editor"):
        assert web_client_for(role).get("/w/lab/trash/").status_code == 403
        assert web_client_for(role).post(f"/w/lab/trash/{run_entry.pk}/restore/").status_code == 403
    assert web_client_for("outsider").get("/w/lab/trash/").status_code == 404
    page = owner_client.get("/w/lab/trash/").content.decode()
    assert "QM9" in page and f"/w/lab/trash/{run_entry.pk}/restore/" in page and "/purge/" in page

    response = owner_client.post(f"/w/lab/trash/{run_entry.pk}/restore/", follow=True)
    assert "restore the project first" in response.content.decode()
    owner_client.post(f"/w/lab/trash/{project_entry.pk}/restore/")
    assert Project.objects.filter(pk=project.pk).exists() and not Run.objects.filter(pk=run.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(f"/w/lab/trash/{run_entry.pk}/purge/").status_code == 302
    assert not Run.all_objects.filter(pk=run.pk).exists()
    assert owner_client.post(f"/w/lab/trash/{run_entry.pk}/purge/").status_code == 404


@pytest.mark.django_db
def test_a_deleted_workspace_keeps_its_trash_page_for_owners(ws, owner, web_client_for):
    client = web_client_for("owner")
    client.post("/w/lab/delete/")
    assert client.get("/w/lab/").status_code == 404
    assert 'href="/w/lab/"' not in client.get("/").content.decode()
    page = client.get("/w/lab/trash/")
    assert page.status_code == 200 and b"itself in the trash" in page.content
    client.post(f"/w/lab/trash/{TrashEntry.objects.get().pk}/restore/")
    assert Workspace.objects.filter(pk=ws.pk).exists() and client.get("/w/lab/").status_code == 200
