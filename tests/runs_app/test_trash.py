"""Delete → trash → restore / purge (SPEC §14): services, the shared-bytes acceptance, expiry, cancel, roles.

The acceptance test runs on the file system and on S3 (moto's server) and asserts on what
the storage itself holds, like tests/assets_app/test_blob_gc.py.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone
from rest_framework.test import APIClient

from assets_app import services as asset_services
from assets_app import storage
from assets_app.models import Asset
from assets_app.selectors import asset_list
from molexp_site.errors import Conflict
from runs_app import selectors, services
from runs_app.access import experiment_list, project_list
from runs_app.choices import AuditAction, ExecutionStatus, RunStatus
from runs_app.models import AuditEvent, Experiment, Project, Run, TrashEntry, Workspace
from tests import factories as f
from tests.s3_support import storage_backend


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["fs", "s3"])
def backend(request, settings, tmp_path):
    """The asset storage on a private folder, or on a fresh bucket of moto's S3 server; purges free at once."""
    settings.MOLEXP_GC_GRACE_SECONDS = 0
    return storage_backend(request, settings, tmp_path, request.param)


@pytest.fixture
def media(request, settings, tmp_path):
    settings.MOLEXP_GC_GRACE_SECONDS = 0
    storage_backend(request, settings, tmp_path, "fs")
    return Path(settings.MEDIA_ROOT)


def _names() -> set[str]:
    return {o.name for o in storage.walk("blobs/")}


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def _entry() -> TrashEntry:
    return TrashEntry.objects.order_by("-id").first()


def _download(client, asset) -> bytes:
    response = client.get(f"/assets/{asset.pk}/download/")
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content) if response.streaming else response.content


def _visible_everywhere(client, owner, run: Run, asset: Asset) -> dict[str, bool]:
    """Where the run (and its artifact) shows up: lookups, lists, counts, catalog, search, download, API."""
    api = APIClient()
    api.force_authenticate(owner)
    exp = Experiment.all_objects.get(pk=run.experiment_id)
    return {
        "run_list": selectors.run_list(user=owner).filter(pk=run.pk).exists(),
        "run_count": experiment_list(user=owner).get(pk=exp.pk).run_count == 2,
        "experiment.runs": exp.runs.filter(pk=run.pk).exists(),
        "asset_list": asset_list(user=owner).filter(pk=asset.pk).exists(),
        "run.assets": run.assets.filter(pk=asset.pk).exists(),
        "catalog_search": asset.pk in {a["id"] for a in api.get("/api/assets/?q=lonely").json()["results"]},
        "facets": api.get("/api/assets/?facets=true").json()["facets"]["sampled"] == 3,
        "catalog_page": f"/assets/{asset.pk}/" in client.get("/catalog/?q=lonely").content.decode(),
        "api_run": api.get(f"/api/runs/{run.pk}/").status_code == 200,
        "api_runs": run.pk in {r["id"] for r in api.get("/api/runs/").json()["results"]},
        "run_page": client.get(f"/runs/{run.pk}/").status_code in (200, 302),
        "asset_page": client.get(f"/assets/{asset.pk}/").status_code == 200,
        "download": client.get(f"/assets/{asset.pk}/download/").status_code == 200,
        "api_content": api.get(f"/api/assets/{asset.pk}/content/").status_code == 200,
        "usage": api.get(f"/api/workspaces/{run.workspace_id}/usage/").json()["workspace"]["logical_bytes"] > 20_000,
    }


@pytest.mark.django_db(transaction=True)
def test_delete_restore_purge_a_run_whose_bytes_another_run_shares(backend, client, ws, owner, experiment):
    """The acceptance: gone everywhere; restore brings it back whole; purge frees only what nobody else uses."""
    client.force_login(owner)
    shared, lonely = b"shared bytes " * 1000, b"only mine " * 2000
    doomed = f.RunFactory(experiment=experiment, number=1, status=RunStatus.SUCCEEDED, launched_by=owner)
    keeper = f.RunFactory(experiment=experiment, number=2, status=RunStatus.SUCCEEDED)
    mine = asset_services.asset_create(kind="artifact", name="model.bin", run=doomed,
                                       blob=asset_services.blob_store_bytes(shared))  # fmt: skip
    theirs = asset_services.asset_create(kind="artifact", name="model.bin", run=keeper,
                                         blob=asset_services.blob_store_bytes(shared))  # fmt: skip
    only = asset_services.asset_create(kind="artifact", name="lonely.bin", run=doomed,
                                       blob=asset_services.blob_store_bytes(lonely))  # fmt: skip
    assert mine.file.name == theirs.file.name
    before = _visible_everywhere(client, owner, doomed, only)
    assert all(before.values()), before

    entry = services.object_delete(user=owner, obj=doomed)
    gone = _visible_everywhere(client, owner, doomed, only)
    assert not any(gone.values()), gone
    assert not Asset.objects.filter(pk__in=[mine.pk, only.pk]).exists()
    assert _names() == {mine.file.name, only.file.name}  # deleting frees nothing

    restored = services.trash_restore(user=owner, entry=entry)
    assert restored == {"run": 1, "asset": 2}
    assert all(_visible_everywhere(client, owner, doomed, only).values())
    assert _sha(_download(client, only)) == only.sha256 == _sha(lonely)

    services.object_delete(user=owner, obj=Run.objects.get(pk=doomed.pk))
    result = services.trash_purge(user=owner, entry=_entry())
    assert result["freed"] == {"objects": 1, "bytes": len(lonely)}
    assert _names() == {theirs.file.name}
    assert not Run.all_objects.filter(pk=doomed.pk).exists()
    assert not Asset.all_objects.filter(pk__in=[mine.pk, only.pk]).exists()
    assert not TrashEntry.objects.exists()
    body = _download(client, theirs)
    assert _sha(body) == theirs.sha256 == _sha(shared)
    assert _actions() == [AuditAction.TRASH_DELETE, AuditAction.TRASH_RESTORE, AuditAction.TRASH_DELETE,
                          AuditAction.TRASH_PURGE]  # fmt: skip
    events = list(AuditEvent.objects.order_by("id"))
    assert all(e.actor_id == owner.pk and e.workspace_id == ws.pk for e in events)
    assert events[0].object_type == "run" and events[0].object_id == str(doomed.pk)


@pytest.mark.django_db
def test_purging_a_project_keeps_what_its_runs_produced_elsewhere(
    media, ws, owner, project, experiment, django_capture_on_commit_callbacks
):
    """The purge deletes the assets under the project in their own cascade first; an asset its runs
    produced in another scope (the workspace) outlives it, its producer links set to NULL."""
    run = f.RunFactory(experiment=experiment, number=1, status=RunStatus.SUCCEEDED, launched_by=owner)
    execution = f.ExecutionFactory(run=run, number=1, status=ExecutionStatus.SUCCEEDED)
    inside = [
        asset_services.asset_create(
            kind="artifact",
            name=f"out-{i}.bin",
            run=run,
            producer_execution=execution,
            blob=asset_services.blob_store_bytes(b"inside %d" % i),
        )  # fmt: skip
        for i in range(3)
    ]
    outside = asset_services.asset_create(kind="data", name="shared.csv", workspace=ws, producer_execution=execution,
                                          blob=asset_services.blob_store_bytes(b"outside"))  # fmt: skip
    assert outside.producer_run_id == run.pk and outside.project_id is None
    f.AssetUseFactory(asset=inside[0], run=run, execution=execution)

    entry = services.object_delete(user=owner, obj=project)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.trash_purge(user=owner, entry=entry)
    assert result["deleted"]["asset"] == 3
    assert result["deleted"]["project"] == result["deleted"]["experiment"] == result["deleted"]["run"] == 1
    assert result["deleted"]["assetuse"] == result["deleted"]["execution"] == 1
    assert result["freed"] == {"objects": 3, "bytes": sum(a.size for a in inside)}
    assert not Asset.all_objects.filter(pk__in=[a.pk for a in inside]).exists()
    kept = Asset.objects.get(pk=outside.pk)
    assert (kept.producer_run_id, kept.producer_execution_id) == (None, None)
    assert _names() == {outside.file.name}
    assert _sha(b"".join(kept.open())) == kept.sha256


@pytest.mark.django_db
def test_restoring_a_parent_restores_exactly_what_its_delete_hid(ws, owner, project, experiment):
    first = f.RunFactory(experiment=experiment, number=1, status=RunStatus.SUCCEEDED)
    second = f.RunFactory(experiment=experiment, number=2, status=RunStatus.SUCCEEDED)
    e_run = services.object_delete(user=owner, obj=first)
    e_exp = services.object_delete(user=owner, obj=experiment)
    assert not Run.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert not experiment_list(user=owner, project=project).exists()
    assert Run.all_objects.get(pk=second.pk).trash_id == e_exp.pk
    assert Run.all_objects.get(pk=first.pk).trash_id == e_run.pk  # not re-tagged

    with pytest.raises(Conflict, match="restore the experiment first"):
        services.trash_restore(user=owner, entry=e_run)
    assert services.trash_restore(user=owner, entry=e_exp) == {"experiment": 1, "run": 1}
    assert set(Run.objects.values_list("pk", flat=True)) == {second.pk}
    services.trash_restore(user=owner, entry=e_run)
    assert set(Run.objects.values_list("pk", flat=True)) == {first.pk, second.pk}


@pytest.mark.django_db
def test_a_deleted_workspace_hides_everything_and_only_its_trash_still_finds_it(ws, owner, experiment, run):
    asset = asset_services.asset_create(kind="artifact", name="a.txt", run=run,
                                        blob=asset_services.blob_store_bytes(b"abc"))  # fmt: skip
    entry = services.object_delete(user=owner, obj=ws)
    assert not selectors.workspace_list(user=owner).exists()
    with pytest.raises(Http404):
        selectors.workspace_get(user=owner, slug="lab")
    assert not project_list(user=owner).exists()
    assert not Experiment.objects.exists() and not Run.objects.exists() and not Asset.objects.exists()
    assert selectors.trash_workspace_get(user=owner, slug="lab").pk == ws.pk
    assert [e.pk for e in selectors.trash_list(workspace=ws)] == [entry.pk]
    services.trash_restore(user=owner, entry=entry)
    assert Asset.objects.filter(pk=asset.pk).exists() and Project.objects.exists()


@pytest.mark.django_db
def test_purging_a_workspace_removes_its_rows_and_entries(ws, owner, experiment, run, media):
    services.object_delete(user=owner, obj=run)
    entry = services.object_delete(user=owner, obj=ws)
    services.trash_purge(user=owner, entry=entry)
    assert not Workspace.all_objects.filter(pk=ws.pk).exists()
    assert not Run.all_objects.exists() and not TrashEntry.objects.exists()
    purge = AuditEvent.objects.get(action=AuditAction.TRASH_PURGE)
    assert purge.workspace_id is None and purge.object_repr == "Lab"  # the event outlives its workspace


@pytest.mark.django_db
def test_roles_owners_delete_all_editors_only_their_own_runs(ws, owner, editor, viewer, outsider, experiment):
    mine = f.RunFactory(experiment=experiment, number=1, launched_by=editor, status=RunStatus.FAILED)
    theirs = f.RunFactory(experiment=experiment, number=2, launched_by=owner, status=RunStatus.FAILED)
    for obj in (theirs, experiment, experiment.project, ws):
        with pytest.raises(PermissionDenied):
            services.object_delete(user=editor, obj=obj)
    for obj in (mine, theirs, experiment, ws):
        with pytest.raises(PermissionDenied):
            services.object_delete(user=viewer, obj=obj)
    with pytest.raises(Http404):
        services.object_delete(user=outsider, obj=mine)
    assert Run.objects.count() == 2 and not TrashEntry.objects.exists()
    entry = services.object_delete(user=editor, obj=mine)
    with pytest.raises(PermissionDenied):  # restore and purge are for owners
        services.trash_restore(user=editor, entry=entry)
    with pytest.raises(PermissionDenied):
        services.trash_purge(user=editor, entry=entry)
    assert _actions() == [AuditAction.TRASH_DELETE]


@pytest.mark.django_db
def test_a_queued_run_is_cancelled_and_a_running_one_asked_to_stop_before_the_delete(ws, owner, experiment):
    queued = f.RunFactory(experiment=experiment, number=1, status=RunStatus.QUEUED)
    f.ExecutionFactory(run=queued, number=1, status=ExecutionStatus.QUEUED)
    running = f.RunFactory(experiment=experiment, number=2, status=RunStatus.RUNNING)
    f.ExecutionFactory(run=running, number=1, status=ExecutionStatus.RUNNING)
    services.object_delete(user=owner, obj=queued)
    services.object_delete(user=owner, obj=experiment)  # hides the running one
    queued = Run.all_objects.get(pk=queued.pk)
    running = Run.all_objects.get(pk=running.pk)
    assert queued.status == RunStatus.CANCELLED and queued.trash_id is not None
    assert running.status == RunStatus.CANCELLING and running.cancel_requested and running.trash_id is not None
    # The worker still records its end on a run in the trash (status_transition sees every row).
    services.status_transition(obj=running, to_status=RunStatus.CANCELLED, message="worker stopped")
    assert Run.all_objects.get(pk=running.pk).status == RunStatus.CANCELLED


@pytest.mark.django_db
def test_maintenance_purges_entries_older_than_trash_days(
    settings, ws, owner, experiment, media, django_capture_on_commit_callbacks
):
    settings.MOLEXP_TRASH_DAYS = 7
    old_run = f.RunFactory(experiment=experiment, number=1, status=RunStatus.FAILED)
    new_run = f.RunFactory(experiment=experiment, number=2, status=RunStatus.FAILED)
    blob = asset_services.blob_store_bytes(b"old bytes " * 100)
    asset_services.asset_create(kind="artifact", name="old.bin", run=old_run, blob=blob)
    old = services.object_delete(user=owner, obj=old_run)
    services.object_delete(user=owner, obj=new_run)
    TrashEntry.objects.filter(pk=old.pk).update(deleted_at=timezone.now() - timedelta(days=7, minutes=1))
    with django_capture_on_commit_callbacks(execute=True):  # the bytes are freed after the commit
        assert services.trash_expire() == 1
    assert not Run.all_objects.filter(pk=old_run.pk).exists()
    assert Run.all_objects.filter(pk=new_run.pk).exists()  # six days to go
    assert not storage.exists(blob.name)
    purge = AuditEvent.objects.get(action=AuditAction.TRASH_PURGE)
    assert purge.actor_id is None and purge.details["reason"] == "expired"
    assert services.trash_expire(now=timezone.now() + timedelta(days=6, hours=23)) == 0
    assert services.trash_expire(now=timezone.now() + timedelta(days=7, minutes=1)) == 1


@pytest.mark.django_db
def test_the_maintenance_task_runs_the_expiry(settings, ws, owner, experiment, media):
    from runs_app.tasks import maintenance_task

    run = f.RunFactory(experiment=experiment, number=1, status=RunStatus.FAILED)
    entry = services.object_delete(user=owner, obj=run)
    TrashEntry.objects.filter(pk=entry.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    assert maintenance_task()["trash_purged"] == 1
    assert not Run.all_objects.filter(pk=run.pk).exists()


@pytest.mark.django_db
def test_names_and_versions_in_the_trash_stay_taken(ws, owner, editor, project, experiment, run, media):
    services.object_delete(user=owner, obj=project)
    with pytest.raises(ValidationError, match="already taken"):
        services.project_create(user=editor, workspace=ws, name="QM9", slug="qm9")
    fresh = services.project_create(user=editor, workspace=ws, name="QM9")
    assert fresh.slug != "qm9"
    services.trash_restore(user=owner, entry=_entry())
    other = f.RunFactory(experiment=experiment, number=2)
    v1 = asset_services.asset_create(
        kind="artifact", name="m.bin", run=other, blob=asset_services.blob_store_bytes(b"1")
    )
    v2 = asset_services.asset_create(
        kind="artifact", name="m.bin", run=other, blob=asset_services.blob_store_bytes(b"2")
    )
    services.object_delete(user=owner, obj=v2)
    v3 = asset_services.asset_create(
        kind="artifact", name="m.bin", run=other, blob=asset_services.blob_store_bytes(b"2")
    )
    assert (v1.version, v2.version, v3.version) == (1, 2, 3)


@pytest.mark.django_db
def test_an_asset_is_restored_only_with_its_run(ws, owner, experiment, run, media):
    asset = asset_services.asset_create(kind="artifact", name="a.bin", run=run,
                                        blob=asset_services.blob_store_bytes(b"x"))  # fmt: skip
    e_asset = services.object_delete(user=owner, obj=asset)
    e_run = services.object_delete(user=owner, obj=Run.objects.get(pk=run.pk))
    with pytest.raises(Conflict, match="restore the run first"):
        services.trash_restore(user=owner, entry=e_asset)
    services.trash_restore(user=owner, entry=e_run)
    assert not Asset.objects.filter(pk=asset.pk).exists()
    services.trash_restore(user=owner, entry=e_asset)
    assert Asset.objects.filter(pk=asset.pk).exists()


@pytest.mark.django_db
def test_an_artifact_saved_after_its_run_was_deleted_is_hidden_by_the_maintenance(ws, owner, experiment, media):
    run = f.RunFactory(experiment=experiment, number=1, status=RunStatus.RUNNING)
    f.ExecutionFactory(run=run, number=1, status=ExecutionStatus.RUNNING)
    stale = Run.objects.get(pk=run.pk)  # what the worker holds
    entry = services.object_delete(user=owner, obj=run)
    late = asset_services.asset_create(kind="artifact", name="late.bin", run=stale,
                                       blob=asset_services.blob_store_bytes(b"late"))  # fmt: skip
    assert Asset.objects.filter(pk=late.pk).exists()  # the window
    services.trash_expire()
    assert not Asset.objects.filter(pk=late.pk).exists()
    assert Asset.all_objects.get(pk=late.pk).trash_id == entry.pk
    services.trash_restore(user=owner, entry=entry)
    assert Asset.objects.filter(pk=late.pk).exists()


@pytest.mark.django_db
def test_a_file_registered_into_a_deleted_project_is_hidden_by_the_maintenance(ws, owner, project, media):
    stale = Project.objects.get(pk=project.pk)  # what a finishing upload holds
    entry = services.object_delete(user=owner, obj=project)
    late = asset_services.asset_create(kind="data", name="late.csv", project=stale,
                                       blob=asset_services.blob_store_bytes(b"a,b\n"))  # fmt: skip
    assert services.trash_expire() == 0
    assert Asset.all_objects.get(pk=late.pk).trash_id == entry.pk
    assert services.trash_restore(user=owner, entry=entry) == {"project": 1, "asset": 1}
