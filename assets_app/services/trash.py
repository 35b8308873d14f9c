"""The trash (SPEC §14): delete into it, restore from it, purge it; the one writer of ``trash`` keys.

The rows are ``runs_app`` models plus ``Asset``; the code lives here because a purge frees
asset bytes (``blob_gc.blob_free``) and ``assets_app`` may import ``runs_app.models`` but not
the reverse. ``runs_app.services.trash.object_delete`` cancels a queued or running run
before calling :func:`trash_put` (control is a ``runs_app`` service).

Invariants (docs/lifecycle.md, "Delete and trash"):
- Roles: owners (and staff) delete workspaces, projects, experiments, runs and assets, and
  restore and purge; an editor deletes a run they launched. Outsiders get ``Http404``
  (the caller's scoped lookup), members without the role ``PermissionDenied``.
- A delete creates one ``TrashEntry`` and writes its id into the object and into every live
  row under it, in one transaction: ``objects`` managers hide them all at once. A restore
  clears exactly the rows carrying that id and is refused (``Conflict``) while the parent is
  itself in the trash. A purge deletes the object's rows (the database cascades to everything
  under it, entries included), then frees the asset bytes nothing else references.
- Every delete, restore and purge appends an ``AuditEvent`` (``trash.delete``/``restore``/``purge``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.utils import timezone

from molexp_site.errors import Conflict
from runs_app.access import role_at_least, workspace_require_role
from runs_app.choices import AuditAction, Role
from runs_app.models import AuditEvent, Experiment, Project, Run, TrashEntry, Workspace

from ..models import Asset
from .blob_gc import blob_free

logger = logging.getLogger(__name__)

#: object_type → model
TRASHABLE: dict[str, type[models.Model]] = {
    "workspace": Workspace,
    "project": Project,
    "experiment": Experiment,
    "run": Run,
    "asset": Asset,
}
#: What a delete of each type hides besides the object: (model, the key naming the object).
_UNDER: dict[str, list[tuple[type[models.Model], str]]] = {
    "workspace": [
        (Project, "workspace_id"),
        (Experiment, "workspace_id"),
        (Run, "workspace_id"),
        (Asset, "workspace_id"),
    ],  # fmt: skip
    "project": [(Experiment, "project_id"), (Run, "project_id"), (Asset, "project_id")],
    "experiment": [(Run, "experiment_id"), (Asset, "experiment_id")],
    "run": [(Asset, "run_id")],
    "asset": [],
}


def object_type_of(obj: models.Model) -> str:
    for name, model in TRASHABLE.items():
        if isinstance(obj, model):
            return name
    raise TypeError(f"{type(obj).__name__} cannot go into the trash")


def _scope_keys(obj: models.Model, object_type: str) -> dict[str, Any]:
    """The entry's workspace … run keys: where the object sits (the object itself included)."""
    if object_type == "workspace":
        return {"workspace_id": obj.pk}
    keys = {"workspace_id": obj.workspace_id}
    if object_type == "project":
        return {**keys, "project_id": obj.pk}
    keys["project_id"] = obj.project_id
    if object_type == "experiment":
        return {**keys, "experiment_id": obj.pk}
    keys["experiment_id"] = obj.experiment_id
    keys["run_id"] = obj.pk if object_type == "run" else obj.run_id
    return keys


def _workspace_of(obj: models.Model) -> Workspace:
    return obj if isinstance(obj, Workspace) else Workspace.all_objects.get(pk=obj.workspace_id)


def trash_delete_require(*, user, obj: models.Model) -> str:
    """Raise unless ``user`` may delete ``obj`` (owners; an editor their own run); return their role."""
    workspace = _workspace_of(obj)
    role = workspace_require_role(user=user, workspace=workspace, role=Role.VIEWER)
    if role_at_least(role, Role.OWNER):
        return role
    if isinstance(obj, Run) and role_at_least(role, Role.EDITOR) and obj.launched_by_id == getattr(user, "pk", None):
        return role
    if isinstance(obj, Run):
        raise PermissionDenied("Only the workspace's owners, and the editor who launched it, may delete a run.")
    raise PermissionDenied(f"Deleting needs the owner role in workspace '{workspace.slug}'; you are {role}.")


@transaction.atomic
def trash_put(*, user, obj: models.Model) -> TrashEntry:
    """Move ``obj`` (and every live row under it) into the trash; one ``TrashEntry``, one audit event.

    The caller got ``obj`` from a scoped lookup (outsiders already had their 404). Raises
    ``PermissionDenied`` (role), ``Http404`` when ``obj`` went into the trash meanwhile.
    Queued or running runs must be cancelled first (``runs_app.services.object_delete`` does).
    """
    object_type = object_type_of(obj)
    trash_delete_require(user=user, obj=obj)
    model = TRASHABLE[object_type]
    entry = TrashEntry.objects.create(
        **_scope_keys(obj, object_type),
        object_type=object_type,
        object_id=obj.pk,
        object_repr=str(obj)[:255],
        deleted_by=user if getattr(user, "is_authenticated", False) else None,
        deleted_at=timezone.now(),
    )
    if model.all_objects.filter(pk=obj.pk, trash__isnull=True).update(trash=entry) != 1:
        raise Http404(f"No such {object_type}.")
    hidden = {object_type: 1}
    for under, key in _UNDER[object_type]:
        n = under.objects.filter(**{key: obj.pk}).update(trash=entry)  # live rows only
        if n:
            hidden[under._meta.model_name] = n
    AuditEvent.objects.record(action=AuditAction.TRASH_DELETE, actor=user, workspace=_workspace_of(obj), obj=obj,
                              object_type=object_type,
                              details={"trash_entry": entry.pk, "hidden": hidden})  # fmt: skip
    obj.trash_id = entry.pk
    return entry


def trash_entry_require_owner(*, user, entry: TrashEntry) -> None:
    """Restore, purge and the trash list are for the workspace's owners (and staff)."""
    workspace_require_role(user=user, workspace=entry.workspace, role=Role.OWNER)


def _parent_in_trash(entry: TrashEntry) -> TrashEntry | None:
    """The entry holding the nearest parent of the entry's object, if that parent is in the trash."""
    obj = TRASHABLE[entry.object_type].all_objects.filter(pk=entry.object_id).first()
    if obj is None or entry.object_type == "workspace":
        return None
    parents = [("run", Run, obj.__dict__.get("run_id")), ("experiment", Experiment, obj.__dict__.get("experiment_id")),
               ("project", Project, obj.__dict__.get("project_id")), ("workspace", Workspace, obj.workspace_id)]  # fmt: skip
    for name, model, pk in parents:
        if pk is not None and name != entry.object_type:
            trash_id = model.all_objects.filter(pk=pk).values_list("trash_id", flat=True).first()
            return None if trash_id is None else TrashEntry.objects.filter(pk=trash_id).first()
    return None


@transaction.atomic
def trash_restore(*, user, entry: TrashEntry) -> dict[str, int]:
    """Bring back exactly what ``entry``'s delete hid; returns rows restored per model.

    Raises ``PermissionDenied`` (not an owner) and ``Conflict`` while the object's parent is in
    the trash (restore that first). Writes one audit event; the entry is gone afterwards.
    """
    trash_entry_require_owner(user=user, entry=entry)
    entry = TrashEntry.objects.select_for_update().filter(pk=entry.pk).first()
    if entry is None:
        raise Http404("No such trash entry.")
    parent = _parent_in_trash(entry)
    if parent is not None:
        raise Conflict(f"This {entry.object_type} is inside {parent.object_type} '{parent.object_repr}', which is in "
                       f"the trash: restore the {parent.object_type} first.")  # fmt: skip
    restored = {}
    for name, model in TRASHABLE.items():
        n = model.all_objects.filter(trash=entry).update(trash=None)
        if n:
            restored[name] = n
    AuditEvent.objects.record(action=AuditAction.TRASH_RESTORE, actor=user, workspace=entry.workspace,
                              object_type=entry.object_type, object_id=entry.object_id, object_repr=entry.object_repr,
                              details={"trash_entry": entry.pk, "restored": restored})  # fmt: skip
    entry.delete()
    return restored


def _assets_under(entry: TrashEntry) -> models.QuerySet:
    """Every asset row a purge of ``entry`` deletes (in the trash or not)."""
    key = {"asset": "pk"}.get(entry.object_type, f"{entry.object_type}_id")
    return Asset.all_objects.filter(**{key: entry.object_id})


def _asset_files(entry: TrashEntry) -> dict[str, int]:
    """Stored objects of every asset row a purge of ``entry`` deletes (name → size)."""
    rows = _assets_under(entry).exclude(file="").values_list("file", "size")
    return {name: size for name, size in rows if not name.endswith("/")}


def _delete_rows(entry: TrashEntry, obj: models.Model) -> dict[str, int]:
    """Delete ``obj`` and everything under it; rows deleted per model (lower-case model names).

    The assets under it go first, in their own cascade: deleting runs first made Django set
    ``producer_run`` and ``producer_execution`` to NULL on every asset those runs produced,
    the ones about to be deleted included (an UPDATE of each asset row and of its indexes,
    ~1.8 s of a 7.6 s purge of 10 000 assets, ``benchmarks/bench_lifecycle.py``). What stays
    set to NULL is then only what outlives the purge: assets in other scopes the runs produced.
    """
    deleted: dict[str, int] = {}
    steps = [_assets_under(entry), obj] if entry.object_type != "asset" else [obj]
    for step in steps:
        _total, per_model = step.delete()
        for label, n in per_model.items():
            if n:
                name = label.split(".")[-1].lower()
                deleted[name] = deleted.get(name, 0) + n
    return deleted


def trash_purge(*, user, entry: TrashEntry, reason: str = "") -> dict[str, Any]:
    """Remove the entry's object and everything under it for good, then free the bytes nobody else uses.

    ``user`` None: the maintenance (expired entries). Must not run inside a caller's
    transaction: the bytes are freed after the rows' deletion commits (``on_commit``), and
    only those no row references any more (``blob_free``; recently claimed ones wait for
    ``manage.py gc``). Returns ``{"deleted": rows per model, "freed": {"objects", "bytes"}}``.
    """
    if user is not None:
        trash_entry_require_owner(user=user, entry=entry)
    result: dict[str, Any] = {"deleted": {}, "freed": {"objects": 0, "bytes": 0}}
    with transaction.atomic():
        entry = TrashEntry.objects.select_for_update().select_related("workspace").filter(pk=entry.pk).first()
        if entry is None:
            raise Http404("No such trash entry.")
        files = _asset_files(entry)
        obj = TRASHABLE[entry.object_type].all_objects.filter(pk=entry.object_id).first()
        AuditEvent.objects.record(action=AuditAction.TRASH_PURGE, actor=user, workspace=entry.workspace,
                                  object_type=entry.object_type, object_id=entry.object_id,
                                  object_repr=entry.object_repr,
                                  details={"trash_entry": entry.pk, "reason": reason or "purge"})  # fmt: skip
        if obj is not None:
            result["deleted"] = _delete_rows(entry, obj)
        TrashEntry.objects.filter(pk=entry.pk).delete()  # an asset's entry: no key cascades to it

    def free() -> None:
        report = blob_free(names=files)
        result["freed"] = {"objects": report.objects, "bytes": report.bytes}

    transaction.on_commit(free)
    return result


#: (row model, parent key, parent model), parents first: what a stray may sit under.
_STRAY_PARENTS = [(Project, "workspace", Workspace), (Experiment, "project", Project), (Run, "experiment", Experiment),
                  (Asset, "workspace", Workspace), (Asset, "project", Project), (Asset, "experiment", Experiment),
                  (Asset, "run", Run)]  # fmt: skip


def trash_adopt_strays() -> int:
    """Hide live rows written under a parent already in the trash; returns how many.

    A task that saves an artifact between its run's delete and its stop, or an upload that
    finishes into a deleted project, writes a live row under a hidden parent. Each such row takes
    its parent's entry (one UPDATE per parent kind, on the parents' ``trash`` index), so restoring
    or purging the parent covers it.
    """
    adopted = 0
    for model, key, parent in _STRAY_PARENTS:
        entry = parent.all_objects.filter(pk=OuterRef(f"{key}_id")).values("trash_id")[:1]
        adopted += model.objects.filter(**{f"{key}__trash__isnull": False}).update(trash_id=Subquery(entry))
    return adopted


def trash_expire(*, now=None, limit: int = 100) -> int:
    """The maintenance: purge entries older than ``MOLEXP_TRASH_DAYS``; returns how many (at most ``limit``).

    First hides assets a cancelled task saved after its run was deleted (``trash_adopt_strays``).
    """
    trash_adopt_strays()
    cutoff = (now or timezone.now()) - timedelta(days=settings.MOLEXP_TRASH_DAYS)
    ids = list(TrashEntry.objects.filter(deleted_at__lt=cutoff).order_by("deleted_at", "id")
               .values_list("pk", flat=True)[:limit])  # fmt: skip
    purged = 0
    for pk in ids:
        try:
            trash_purge(user=None, entry=TrashEntry(pk=pk), reason="expired")
        except Http404:
            continue  # purged meanwhile (an owner, or its parent's purge)
        purged += 1
    if purged:
        logger.info("trash: %d expired entries purged", purged)
    return purged
