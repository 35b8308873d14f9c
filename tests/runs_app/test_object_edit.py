"""Edit and archive workspaces, projects and experiments (SPEC §14): services, API, pages, redirects, roles."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from molexp_site.errors import Conflict
from runs_app import services
from runs_app.choices import AuditAction, Role
from runs_app.models import AuditEvent, Experiment, SlugRedirect, Workspace
from tests import factories as f

TWO_WORKFLOWS = """
from runs_app.workflow import Workflow

train = Workflow("train")
evaluate = Workflow("evaluate")


@train.task
def fit(ctx):
    return 1


@evaluate.task
def score(ctx):
    return 2
"""


@pytest.fixture
def two_workflow_experiment(workflow_dir, project, editor):
    (workflow_dir / "pair.py").write_text(TWO_WORKFLOWS)
    return services.experiment_create(
        user=editor, project=project, name="Pair", workflow_source="pair.py", workflow_name="train"
    )


# --- services -------------------------------------------------------------------------


def test_rename_derives_slug_and_keeps_old_one_for_redirects(ws, owner):
    services.workspace_update(user=owner, workspace=ws, name="Quantum Lab", description="QM work")
    ws.refresh_from_db()
    assert (ws.name, ws.slug, ws.description) == ("Quantum Lab", "quantum-lab", "QM work")
    assert SlugRedirect.objects.filter(kind="workspace", old_slug="lab", target_id=ws.pk).exists()
    actions = list(AuditEvent.objects.filter(workspace=ws).values_list("action", flat=True))
    assert set(actions) == {AuditAction.RENAME, AuditAction.UPDATE}


def test_explicit_slug_is_checked(ws, owner, other_ws, outsider):
    with pytest.raises(ValidationError):
        services.workspace_update(user=owner, workspace=ws, slug="Not A Slug")
    with pytest.raises(ValidationError):
        services.workspace_update(user=owner, workspace=ws, slug="elsewhere")  # taken
    with pytest.raises(ValidationError):
        services.workspace_update(user=owner, workspace=ws, name="   ")
    ws.refresh_from_db()
    assert (ws.name, ws.slug) == ("Lab", "lab")
    assert not AuditEvent.objects.filter(workspace=ws).exists()


def test_roles_workspace_and_project_need_owner_experiment_editor(ws, project, experiment, editor, viewer, outsider):
    with pytest.raises(PermissionDenied):
        services.workspace_update(user=editor, workspace=ws, name="X")
    with pytest.raises(PermissionDenied):
        services.project_update(user=editor, project=project, name="X")
    with pytest.raises(PermissionDenied):
        services.experiment_update(user=viewer, experiment=experiment, name="X")
    with pytest.raises(Http404):
        services.experiment_update(user=outsider, experiment=experiment, name="X")
    services.experiment_update(user=editor, experiment=experiment, name="Renamed", description="d")
    experiment.refresh_from_db()
    assert (experiment.name, experiment.slug, experiment.description) == ("Renamed", "renamed", "d")


def test_archive_hides_from_lists_refuses_writes_and_restores(ws, project, experiment, owner, editor):
    services.project_update(user=owner, project=project, archived=True)
    project.refresh_from_db()
    assert project.archived_at is not None
    from runs_app.access import project_list

    assert list(project_list(user=owner, workspace=ws, archived=False)) == []
    assert list(project_list(user=owner, workspace=ws, archived=True)) == [project]
    with pytest.raises(Conflict, match="archived"):
        services.experiment_create(user=editor, project=project, name="New", workflow_source="x.py")
    with pytest.raises(Conflict, match="archived"):
        services.project_update(user=owner, project=project, description="changed while archived")
    with pytest.raises(Conflict, match="archived"):
        services.experiment_update(user=editor, experiment=experiment, name="inside archived project")
    services.project_update(user=owner, project=project, archived=False, description="back")
    project.refresh_from_db()
    assert project.archived_at is None and project.description == "back"
    actions = list(AuditEvent.objects.filter(workspace=ws).order_by("id").values_list("action", flat=True))
    assert actions == [AuditAction.ARCHIVE, AuditAction.UPDATE, AuditAction.UNARCHIVE]


def test_archived_experiment_refuses_launch_and_rerun(chem_experiment, editor):
    services.experiment_update(user=editor, experiment=chem_experiment, archived=True)
    chem_experiment.refresh_from_db()
    with pytest.raises(Conflict, match="archived"):
        services.run_launch(user=editor, experiment=chem_experiment, params={})
    services.experiment_update(user=editor, experiment=chem_experiment, archived=False)
    chem_experiment.refresh_from_db()
    assert len(services.run_launch(user=editor, experiment=chem_experiment, params={})) == 1


def test_workflow_name_must_be_one_the_file_defines(two_workflow_experiment, editor):
    exp = two_workflow_experiment
    services.experiment_update(user=editor, experiment=exp, workflow_name="evaluate")
    exp.refresh_from_db()
    assert exp.workflow_name == "evaluate"
    with pytest.raises(ValidationError, match="no workflow 'nope'"):
        services.experiment_update(user=editor, experiment=exp, workflow_name="nope")
    with pytest.raises(ValidationError, match="several workflows"):
        services.experiment_update(user=editor, experiment=exp, workflow_name="")
    exp.refresh_from_db()
    assert exp.workflow_name == "evaluate"
    assert services.experiment_workflow_names(experiment=exp) == ["evaluate", "train"]


def test_slug_back_to_an_old_one_drops_its_redirect(ws, owner):
    services.workspace_update(user=owner, workspace=ws, slug="lab-2")
    services.workspace_update(user=owner, workspace=ws, slug="lab")
    assert list(SlugRedirect.objects.filter(kind="workspace").values_list("old_slug", flat=True)) == ["lab-2"]


# --- API ------------------------------------------------------------------------------


def test_api_patch_workspace_rename_archive_and_quota(api_client_for, ws):
    owner = api_client_for("owner")
    response = owner.patch(f"/api/workspaces/{ws.pk}/", {"name": "Lab Two", "storage_quota_bytes": 1000}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["slug"] == "lab-two" and response.json()["storage_quota_bytes"] == 1000
    assert owner.patch(f"/api/workspaces/{ws.pk}/", {"archived": True}, format="json").json()["archived_at"]
    assert owner.get("/api/workspaces/").json()["count"] == 0
    assert [w["id"] for w in owner.get("/api/workspaces/?archived=true").json()["results"]] == [ws.pk]
    assert owner.get(f"/api/workspaces/{ws.pk}/").status_code == 200  # details stay readable
    refused = owner.patch(f"/api/workspaces/{ws.pk}/", {"description": "x"}, format="json")
    assert refused.status_code == 409 and "archived" in refused.json()["detail"]
    assert owner.patch(f"/api/workspaces/{ws.pk}/", {"archived": False}, format="json").json()["archived_at"] is None


@pytest.mark.parametrize(("role", "status"), [("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_api_patch_workspace_refused_below_owner(api_client_for, ws, role, status):
    response = api_client_for(role).patch(f"/api/workspaces/{ws.pk}/", {"name": "Mine"}, format="json")
    assert response.status_code == status
    ws.refresh_from_db()
    assert ws.name == "Lab"


def test_api_patch_project_and_experiment(api_client_for, project, experiment, two_workflow_experiment):
    assert (
        api_client_for("editor").patch(f"/api/projects/{project.pk}/", {"name": "P"}, format="json").status_code == 403
    )
    body = api_client_for("owner").patch(f"/api/projects/{project.pk}/", {"name": "QM10"}, format="json").json()
    assert body["slug"] == "qm10"
    editor = api_client_for("editor")
    response = editor.patch(
        f"/api/experiments/{two_workflow_experiment.pk}/", {"workflow_name": "evaluate", "description": "e"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["workflow_name"] == "evaluate"
    bad = editor.patch(f"/api/experiments/{two_workflow_experiment.pk}/", {"workflow_name": "zzz"}, format="json")
    assert bad.status_code == 400 and "zzz" in str(bad.json())
    assert editor.patch(f"/api/experiments/{experiment.pk}/", {"archived": True}, format="json").status_code == 200
    listed = [e["id"] for e in editor.get("/api/experiments/").json()["results"]]
    assert experiment.pk not in listed and two_workflow_experiment.pk in listed
    viewer = api_client_for("viewer").patch(f"/api/experiments/{experiment.pk}/", {"name": "v"}, format="json")
    assert viewer.status_code == 403


def test_api_bad_input_is_400_and_changes_nothing(api_client_for, ws):
    owner = api_client_for("owner")
    for body in ({"name": ""}, {"archived": "maybe"}, {"slug": "a b"}, {"storage_quota_bytes": -1}):
        assert owner.patch(f"/api/workspaces/{ws.pk}/", body, format="json").status_code == 400, body
    ws.refresh_from_db()
    assert (ws.name, ws.slug, ws.archived_at, ws.storage_quota_bytes) == ("Lab", "lab", None, None)


# --- pages ----------------------------------------------------------------------------


def test_edit_page_renames_and_old_urls_redirect_301(web_client_for, ws, project, experiment, run):
    owner = web_client_for("owner")
    assert owner.get("/w/lab/edit/").status_code == 200
    response = owner.post("/w/lab/p/qm9/edit/", {"action": "save", "name": "QM Nine", "slug": "qm9", "description": ""})
    assert response.status_code == 302 and response["Location"] == "/w/lab/p/qm-nine/"
    old = owner.get("/w/lab/p/qm9/e/baseline/runs/1/?tab=logs")
    assert old.status_code == 301 and old["Location"] == "/w/lab/p/qm-nine/e/baseline/runs/1/?tab=logs"
    assert owner.get(old["Location"]).status_code == 200
    owner.post("/w/lab/edit/", {"action": "save", "name": "Lab", "slug": "new-lab", "description": ""})
    both = owner.get("/w/lab/p/qm9/")
    assert both.status_code == 301 and both["Location"] == "/w/new-lab/p/qm-nine/"


def test_old_url_redirect_is_not_given_to_outsiders(web_client_for, ws, owner):
    services.workspace_update(user=owner, workspace=ws, name="Renamed")
    assert web_client_for("outsider").get("/w/lab/").status_code == 404
    assert web_client_for("viewer").get("/w/lab/").status_code == 301


def test_experiment_edit_page_offers_the_files_workflows(web_client_for, two_workflow_experiment):
    exp = two_workflow_experiment
    url = f"/w/lab/p/qm9/e/{exp.slug}/edit/"
    page = web_client_for("editor").get(url).content.decode()
    assert '<option value="evaluate"' in page and '<option value="train" selected' in page
    bad = web_client_for("editor").post(url, {"action": "save", "name": "Pair", "workflow_name": "nope"})
    assert bad.status_code == 400
    assert web_client_for("viewer").get(url).status_code == 403


def test_archive_button_hides_and_banner_shows(web_client_for, ws, project, experiment):
    editor = web_client_for("editor")
    url = "/w/lab/p/qm9/e/baseline/edit/"
    assert editor.post(url, {"action": "archive"}).status_code == 302
    assert Experiment.objects.get(pk=experiment.pk).archived_at is not None
    listing = editor.get("/w/lab/p/qm9/").content.decode()
    assert 'href="/w/lab/p/qm9/e/baseline/"' not in listing and "Show archived experiments" in listing
    assert 'href="/w/lab/p/qm9/e/baseline/"' in editor.get("/w/lab/p/qm9/?archived=1").content.decode()
    page = editor.get("/w/lab/p/qm9/e/baseline/").content.decode()
    assert "is archived" in page and "Launch runs" not in page
    assert editor.post(url, {"action": "unarchive"}).status_code == 302
    assert Experiment.objects.get(pk=experiment.pk).archived_at is None


def test_archived_workspace_hidden_from_dashboard(web_client_for, ws, owner):
    services.workspace_update(user=owner, workspace=ws, archived=True)
    client = web_client_for("owner")
    assert 'href="/w/lab/"' not in client.get("/").content.decode()
    assert 'href="/w/lab/"' in client.get("/?archived=1").content.decode()
    assert Workspace.objects.get(pk=ws.pk).archived_at is not None


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200, url
    return len(ctx)


@pytest.mark.parametrize("url", ["/", "/?archived=1", "/w/lab/", "/w/lab/?archived=1", "/w/lab/p/qm9/",
                                 "/w/lab/p/qm9/?archived=1"])  # fmt: skip
def test_list_pages_with_archived_rows_query_counts_are_constant(web_client_for, ws, owner, project, url):
    def grow(n):
        for _ in range(n):
            for archived in (None, timezone.now()):
                other = f.WorkspaceFactory(archived_at=archived)
                f.MembershipFactory(workspace=other, user=owner, role=Role.OWNER)
                f.ProjectFactory(workspace=ws, archived_at=archived)
                f.ExperimentFactory(project=project, archived_at=archived)

    client = web_client_for("owner")
    grow(2)
    client.get(url)  # warm per-process caches
    small = _count(client, url)
    grow(10)
    assert _count(client, url) == small <= 10


def test_external_run_into_an_archived_project_is_409(api_client_for, ws, project, owner):
    import uuid

    from runs_app.models import Run

    services.project_update(user=owner, project=project, archived=True)
    body = {"experiment": f"{ws.slug}/{project.slug}/ext", "run_uuid": str(uuid.uuid4()), "create_experiment": True}
    response = api_client_for("editor").post("/api/external/runs/", body, format="json")
    assert response.status_code == 409 and "archived" in response.json()["detail"]
    assert not Run.objects.exists() and not Experiment.objects.filter(slug="ext").exists()


@pytest.mark.parametrize("url", ["/api/workspaces/?archived=true", "/api/projects/?archived=true",
                                 "/api/experiments/?archived=true", "/api/experiments/"])  # fmt: skip
def test_api_lists_with_archived_rows_query_counts_are_constant(api_client_for, ws, owner, project, url):
    def grow(n):
        for _ in range(n):
            for archived in (None, timezone.now()):
                other = f.WorkspaceFactory(archived_at=archived)
                f.MembershipFactory(workspace=other, user=owner, role=Role.OWNER)
                f.ProjectFactory(workspace=ws, archived_at=archived)
                f.ExperimentFactory(project=project, archived_at=archived)

    client = api_client_for("owner")
    grow(2)
    client.get(url)
    small = _count(client, url)
    grow(10)
    assert _count(client, url) == small <= 4
    assert client.get(url).json()["count"] == 12  # 2 + 10 of the kind asked for, the others hidden
