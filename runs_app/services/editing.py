"""Edit and archive workspaces, projects and experiments (SPEC §14): the one writer for all three.

Invariants:
- Roles: owners edit workspaces and projects; editors and owners edit experiments (staff count as
  owner). Checked here, so pages and the API give the same answer.
- A rename changes the slug too (it follows the new name, unique in its parent) unless a slug is
  given; the slug it had is kept in ``SlugRedirect`` so old page URLs redirect (301,
  ``runs_app.slug_redirects``). A slug that becomes live again is dropped from the redirects.
- Archived objects are read-only: the only change they accept is ``archived=False`` (which may come
  with other changes in the same call). An object inside an archived parent accepts none.
- Every rename, archive, unarchive and description/workflow change is one ``AuditEvent``.
- Bad input (empty name, taken or malformed slug, a workflow the file does not define) raises
  ``ValidationError`` and changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import slugify

from ..access import archive_require_active, workspace_require_role
from ..choices import AuditAction, Role
from ..models import AuditEvent, Experiment, Project, SlugRedirect, Workspace
from .core import _clean_name, workflow_resolve
from .discovery import workflow_inspect


def _slug_for(model: type[models.Model], obj: models.Model, *, name: str, slug: str | None, **parent: Any) -> str:
    """The slug after an edit: ``slug`` checked, or one derived from ``name``; unique among siblings."""
    others = model.objects.filter(**parent).exclude(pk=obj.pk)
    if slug is not None and slug != obj.slug:
        if not slug or slugify(slug) != slug or len(slug) > 100:
            raise ValidationError({"slug": f"'{slug}' is not a valid slug (lowercase letters, digits, - and _)."})
        if others.filter(slug=slug).exists():
            raise ValidationError({"slug": f"'{slug}' is already taken here."})
        return slug
    if slug is not None or name == obj.name:
        return obj.slug
    base = slugify(name)[:90] or "item"
    if base == obj.slug:
        return obj.slug
    candidate, n = base, 1
    while others.filter(slug=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _apply(
    *,
    user,
    obj: Workspace | Project | Experiment,
    kind: str,
    workspace: Workspace,
    parent_id: int,
    parent: dict[str, Any],
    name: str | None,
    slug: str | None,
    description: str | None,
    archived: bool | None,
    extra: dict[str, Any],
) -> None:
    """The shared body of the three updates; the caller holds the transaction and checked the role."""
    changes: dict[str, Any] = {}
    new_name = _clean_name(name) if name is not None else obj.name
    new_slug = _slug_for(type(obj), obj, name=new_name, slug=slug, **parent)
    if new_name != obj.name:
        changes["name"] = new_name
    if new_slug != obj.slug:
        changes["slug"] = new_slug
    if description is not None and description != obj.description:
        changes["description"] = description
    changes.update({key: value for key, value in extra.items() if getattr(obj, key) != value})
    unarchive = archived is False and obj.archived_at is not None
    archive = archived is True and obj.archived_at is None
    if obj.archived_at is not None and not unarchive and changes:
        archive_require_active(**{kind: obj})
    if not (changes or archive or unarchive):
        return
    before = {key: getattr(obj, key) for key in changes}
    for key, value in changes.items():
        setattr(obj, key, value)
    if archive or unarchive:
        obj.archived_at = timezone.now() if archive else None
    obj.full_clean(validate_unique=False)
    obj.save()
    if "slug" in changes:
        SlugRedirect.objects.filter(kind=kind, parent_id=parent_id, old_slug=new_slug).delete()
        SlugRedirect.objects.update_or_create(
            kind=kind, parent_id=parent_id, old_slug=before["slug"], defaults={"target_id": obj.pk}
        )
    record = AuditEvent.objects.record
    if "name" in changes or "slug" in changes:
        record(action=AuditAction.RENAME, actor=user, workspace=workspace, obj=obj,
               details={k: {"from": before[k], "to": changes[k]} for k in ("name", "slug") if k in changes})  # fmt: skip
    others = [key for key in changes if key not in ("name", "slug")]
    if others:
        record(action=AuditAction.UPDATE, actor=user, workspace=workspace, obj=obj,
               details={k: {"from": before[k], "to": changes[k]} for k in others})  # fmt: skip
    if archive or unarchive:
        record(action=AuditAction.ARCHIVE if archive else AuditAction.UNARCHIVE, actor=user, workspace=workspace,
               obj=obj)  # fmt: skip


@transaction.atomic
def workspace_update(
    *,
    user,
    workspace: Workspace,
    name: str | None = None,
    slug: str | None = None,
    description: str | None = None,
    archived: bool | None = None,
) -> Workspace:
    """Rename, describe, archive or unarchive a workspace (owners and staff); ``None`` leaves a field as it is.

    Raises ``PermissionDenied`` below owner, ``ValidationError`` for bad input, ``Conflict`` for a
    change to an archived workspace that does not unarchive it. Side effects: one UPDATE, a
    ``SlugRedirect`` on a slug change, audit events.
    """
    workspace_require_role(user=user, workspace=workspace, role=Role.OWNER)
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    _apply(user=user, obj=workspace, kind="workspace", workspace=workspace, parent_id=0, parent={}, name=name,
           slug=slug, description=description, archived=archived, extra={})  # fmt: skip
    return workspace


@transaction.atomic
def project_update(
    *,
    user,
    project: Project,
    name: str | None = None,
    slug: str | None = None,
    description: str | None = None,
    archived: bool | None = None,
) -> Project:
    """Rename, describe, archive or unarchive a project (owners and staff), as ``workspace_update``.

    Also ``Conflict`` while its workspace is archived.
    """
    workspace_require_role(user=user, workspace=project.workspace, role=Role.OWNER)
    project = Project.objects.select_for_update().select_related("workspace").get(pk=project.pk)
    archive_require_active(workspace=project.workspace)
    _apply(user=user, obj=project, kind="project", workspace=project.workspace, parent_id=project.workspace_id,
           parent={"workspace_id": project.workspace_id}, name=name, slug=slug, description=description,
           archived=archived, extra={})  # fmt: skip
    return project


def experiment_workflow_names(*, experiment: Experiment) -> list[str]:
    """The workflows the experiment's file defines, sorted (its edit form offers them).

    Inspected in a subprocess, cached by content; the file is never imported here. Raises
    ``ValidationError`` if the file is gone or cannot be read as a workflow file.
    """
    path = workflow_resolve(experiment.workflow_source)
    info = workflow_inspect(path=path)
    if info.get("error"):
        raise ValidationError({"workflow_name": info["error"]})
    return sorted(w["name"] for w in info.get("workflows", []))


def _workflow_name_check(*, experiment: Experiment, workflow_name: str) -> str:
    """``workflow_name`` if the experiment's file defines it (empty: the file's only workflow)."""
    workflow_name = workflow_name.strip()
    names = experiment_workflow_names(experiment=experiment)
    if workflow_name and workflow_name not in names:
        raise ValidationError(
            {"workflow_name": f"The file has no workflow {workflow_name!r} (it defines: {', '.join(names)})."}
        )
    if not workflow_name and len(names) != 1:
        raise ValidationError({"workflow_name": f"The file defines several workflows ({', '.join(names)}); name one."})
    return workflow_name


def experiment_update(
    *,
    user,
    experiment: Experiment,
    name: str | None = None,
    slug: str | None = None,
    description: str | None = None,
    workflow_name: str | None = None,
    archived: bool | None = None,
) -> Experiment:
    """Rename, describe, archive, unarchive an experiment or pick its workflow (editors and owners).

    ``workflow_name`` must be one of the workflows its file defines (inspected before the
    transaction: slow I/O stays outside it). Errors as ``workspace_update``, and ``Conflict``
    while its project or workspace is archived.
    """
    workspace_require_role(user=user, workspace=experiment.workspace, role=Role.EDITOR)
    extra = {}
    if workflow_name is not None and workflow_name.strip() != experiment.workflow_name:
        extra["workflow_name"] = _workflow_name_check(experiment=experiment, workflow_name=workflow_name)
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().select_related("project", "workspace").get(pk=experiment.pk)
        archive_require_active(workspace=experiment.workspace, project=experiment.project)
        _apply(user=user, obj=experiment, kind="experiment", workspace=experiment.workspace,
               parent_id=experiment.project_id, parent={"project_id": experiment.project_id}, name=name, slug=slug,
               description=description, archived=archived, extra=extra)  # fmt: skip
    return experiment
