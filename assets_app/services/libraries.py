"""Data libraries: the data assets of one workspace, project or experiment (SPEC §6, §7).

``workspace.data_assets``, ``project.data_assets`` and ``experiment.data_assets``
return a :class:`DataLibrary` bound to that scope (installed by ``assets_app.apps``).
Imports, uploads, the ``import_asset`` command and the library pages all go through
the functions here.

Invariants:
- Versions are per (scope, name): the same bytes as the newest version return
  that version (no new row); different bytes make the next version. Bytes are
  content-addressed (``blobs/<aa>/<bb>/<sha256>``), so identical bytes are stored
  once whatever their names. SHA-256 and size are always recorded.
- Server paths are checked by ``import_sources`` (import roots), directories are
  scanned and archived by ``import_archive``, and stored by ``import_actions``.
  Every check runs before anything is written: a refused import leaves no file and
  no row.
- Names are labels (``asset_name_clean``); they never become file-system paths.
- ``user`` given: the caller must be an editor or owner of the workspace
  (``Http404`` for non-members, ``PermissionDenied`` for viewers). ``user=None``
  is the trusted server-side Python API (shell, scripts, the seed command); the
  import roots are enforced either way.

Import actions (``import_action`` on the row):
- ``copy``: the bytes are streamed into the content-addressed store.
- ``move``: the file is renamed into the store when it is on the same file
  system, else copied and then removed; the source is gone afterwards.
- ``symlink``: the asset's stored file is a symlink to the (resolved) source; the
  bytes are hashed, not copied. Later edits of the source show through.
- ``hardlink``: the asset's stored file is a hard link (``os.link``) to the
  source, which must be on the store's file system (else a ``ValidationError``).
  Edits of the source in place show through.
  Symlinks and hard links live under ``links/``, never under ``blobs/``: their
  bytes can change behind the store's back, so they must not be shared by
  content address. Their SHA-256 is that of the bytes at import time.

Directories become one asset, stored as their canonical tar archive (see
``import_archive``). ``copy`` and ``move`` store that archive (media type
``application/x-tar``); ``symlink`` stores a link to the directory and ``hardlink``
a tree of hard links under ``links/`` (media type ``inode/directory``), both
recording the archive's SHA-256 and size.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery

from runs_app.access import archive_require_active, workspace_require_role
from runs_app.choices import Role
from runs_app.models import Experiment, Project, Workspace

from ..choices import AssetKind, ImportAction, ScopeKind
from ..models import Asset, DataAsset
from .blobs import StoredBlob, blob_store_chunks, blob_store_fileobj, blob_store_path
from .import_actions import _local_store, _move_file, _store_hardlink_file, _store_hardlink_tree, _store_symlink
from .import_archive import (
    DIRECTORY_MEDIA_TYPE,
    LINKED_DIRECTORY_MEDIA_TYPE,
    _digest_chunks,
    _directory_metadata,
    _file_chunks,
    _tar_chunks,
    _tree_scan,
)
from .import_sources import _import_roots, import_source_resolve
from .registration import _clean_tags, asset_create, asset_name_clean
from .run_assets import AssetLookupError

#: The actions an import of a server path may take (``upload`` is for uploads only).
IMPORT_ACTIONS = (ImportAction.COPY, ImportAction.MOVE, ImportAction.SYMLINK, ImportAction.HARDLINK)


class AssetNotFound(AssetLookupError):
    """No data asset of that name (and version) in this library's scope."""


# --- where a library lives --------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    workspace: Workspace
    project: Project | None
    experiment: Experiment | None

    @property
    def key(self) -> str:
        return Asset.make_scope_key(
            self.workspace.pk,
            self.project.pk if self.project else None,
            self.experiment.pk if self.experiment else None,
            None,
        )

    @property
    def kind(self) -> str:
        if self.experiment is not None:
            return ScopeKind.EXPERIMENT
        return ScopeKind.PROJECT if self.project is not None else ScopeKind.WORKSPACE

    @property
    def label(self) -> str:
        parts = [self.workspace.slug]
        if self.project is not None:
            parts.append(self.project.slug)
        if self.experiment is not None:
            parts.append(self.experiment.slug)
        return f"{self.kind} '{'/'.join(parts)}'"


def _scope(*, workspace: Workspace | None, project: Project | None, experiment: Experiment | None) -> _Scope:
    if experiment is not None:
        project = project or experiment.project
        if experiment.project_id != project.pk:
            raise ValidationError("The experiment is not in that project.")
    if project is not None:
        workspace = workspace or project.workspace
        if project.workspace_id != workspace.pk:
            raise ValidationError("The project is not in that workspace.")
    if workspace is None:
        raise ValidationError("A data library needs a workspace, project or experiment.")
    return _Scope(workspace=workspace, project=project, experiment=experiment)


def _require_editor(*, user, scope: _Scope) -> None:
    if user is None:
        return  # the trusted server-side API
    workspace_require_role(user=user, workspace=scope.workspace, role=Role.EDITOR)
    # SPEC §14: an archived scope is read-only (a data library import into it is refused with 409).
    archive_require_active(workspace=scope.workspace, project=scope.project, experiment=scope.experiment)


# --- services ---------------------------------------------------------------------------------


def _latest(scope: _Scope, name: str) -> Asset | None:
    return (
        Asset.all_objects.filter(scope_key=scope.key, kind=AssetKind.DATA, name=name)  # numbers in the trash stay taken
        .order_by("-version")
        .only("id", "version", "sha256", "trash_id")
        .first()
    )


def _clean_metadata(metadata: Any) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValidationError({"metadata": "Metadata must be a JSON object."})
    try:
        json.dumps(metadata)
    except (TypeError, ValueError):
        raise ValidationError({"metadata": "Metadata must be JSON-serializable."}) from None
    return dict(metadata)


def data_asset_import(
    *,
    workspace: Workspace | None = None,
    project: Project | None = None,
    experiment: Experiment | None = None,
    name: str = "",
    source: str | os.PathLike,
    action: str = ImportAction.COPY,
    tags: Iterable[str] | None = (),
    metadata: dict | None = None,
    user=None,
    description: str = "",
) -> Asset:
    """Import a server file or directory into the data library of the narrowest scope given.

    ``name`` defaults to the source's base name. See the module docstring for
    the actions, the directory archive and the import roots. Same bytes as the
    newest version of ``name`` → that version (a ``move`` still removes the
    source; a ``symlink``/``hardlink`` then creates no link).

    Side effects: a blob under ``blobs/`` (copy, move) or an entry under
    ``links/`` (symlink, hardlink), and a ``DataAsset`` row; ``move`` removes the
    source. Raises ``ValidationError`` (bad source, action, name, tags or
    metadata; hard link across file systems; a non-local storage for
    move/symlink/hardlink) with nothing written, ``Http404``/``PermissionDenied``
    when ``user`` may not edit the workspace.
    """
    scope = _scope(workspace=workspace, project=project, experiment=experiment)
    _require_editor(user=user, scope=scope)
    if action not in IMPORT_ACTIONS:
        raise ValidationError({"action": f"Unknown import action {action!r}: use copy, move, symlink or hardlink."})
    real = import_source_resolve(source)
    name = asset_name_clean(name or real.name)
    tags = _clean_tags(tags)
    metadata = _clean_metadata(metadata)
    if action in (ImportAction.SYMLINK, ImportAction.HARDLINK):
        _local_store()

    is_dir = real.is_dir()
    entries = _tree_scan(real, _import_roots()) if is_dir else []
    listing: list[dict[str, Any]] = []
    media_type = DIRECTORY_MEDIA_TYPE if is_dir else ""
    if action in (ImportAction.COPY, ImportAction.MOVE):
        if is_dir:
            blob = blob_store_chunks(_tar_chunks(entries, listing))
        elif action == ImportAction.MOVE:
            blob = _move_file(real)
        else:
            blob = blob_store_path(real)
        if action == ImportAction.MOVE and is_dir:
            shutil.rmtree(real)
    else:
        sha, size = _digest_chunks(_tar_chunks(entries, listing) if is_dir else _file_chunks(real))
        latest = _latest(scope, name)
        if latest is not None and latest.trash_id is None and latest.sha256 == sha:
            return DataAsset.objects.get(pk=latest.pk)  # same bytes: the existing version, no link
        if action == ImportAction.SYMLINK:
            stored = _store_symlink(real, sha)
        elif is_dir:
            stored = _store_hardlink_tree(entries, real, sha)
        else:
            stored = _store_hardlink_file(real, sha)
        blob = StoredBlob(name=stored, sha256=sha, size=size)
        if is_dir:
            media_type = LINKED_DIRECTORY_MEDIA_TYPE
    if is_dir:
        metadata["directory"] = _directory_metadata(entries, listing)
    return asset_create(
        kind=AssetKind.DATA,
        name=name,
        workspace=scope.workspace,
        project=scope.project,
        experiment=scope.experiment,
        blob=blob,
        media_type=media_type,
        tags=tags,
        description=description,
        metadata=metadata,
        created_by=user,
        reuse_identical=True,
        source_path=str(real),
        import_action=action,
    )


def data_asset_upload(
    *,
    workspace: Workspace | None = None,
    project: Project | None = None,
    experiment: Experiment | None = None,
    name: str,
    fileobj: IO[bytes] | bytes,
    tags: Iterable[str] | None = (),
    metadata: dict | None = None,
    user=None,
    description: str = "",
) -> Asset:
    """Store the bytes of a file object (or ``bytes``) as the next version of ``name`` (same bytes → same version).

    Side effects: a blob and a ``DataAsset`` row (``import_action="upload"``).
    Raises ``ValidationError`` for a bad name, tags or metadata (nothing written),
    ``Http404``/``PermissionDenied`` when ``user`` may not edit the workspace.
    """
    scope = _scope(workspace=workspace, project=project, experiment=experiment)
    _require_editor(user=user, scope=scope)
    name = asset_name_clean(name)
    tags = _clean_tags(tags)
    metadata = _clean_metadata(metadata)
    if isinstance(fileobj, (bytes, bytearray)):
        fileobj = io.BytesIO(bytes(fileobj))
    if not hasattr(fileobj, "read"):
        raise ValidationError({"fileobj": "Give a binary file object or bytes."})
    blob = blob_store_fileobj(fileobj)
    return asset_create(
        kind=AssetKind.DATA,
        name=name,
        workspace=scope.workspace,
        project=scope.project,
        experiment=scope.experiment,
        blob=blob,
        tags=tags,
        description=description,
        metadata=metadata,
        created_by=user,
        reuse_identical=True,
        import_action=ImportAction.UPLOAD,
    )


def data_asset_add_file(
    *,
    user,
    path: Path,
    name: str = "",
    workspace: Workspace,
    project: Project | None = None,
    experiment: Experiment | None = None,
    tags: Iterable[str] | None = None,
    description: str = "",
) -> Asset:
    """Copy a trusted server-side file into a data library (editor or owner); same bytes → same version.

    Used by the demo seed. Imports of user-named server paths (checked against
    ``MOLEXP_IMPORT_ROOTS``, with move/symlink/hardlink) build on this with their checks.
    """
    workspace_require_role(user=user, workspace=workspace, role=Role.EDITOR)
    blob = blob_store_path(path)
    return asset_create(
        kind=AssetKind.DATA,
        name=name or path.name,
        workspace=workspace,
        project=project,
        experiment=experiment,
        blob=blob,
        tags=tags,
        description=description,
        created_by=user,
        reuse_identical=True,
        source_path=str(path),
        import_action="copy",
    )


def data_library_list(
    *,
    workspace: Workspace | None = None,
    project: Project | None = None,
    experiment: Experiment | None = None,
    all_versions: bool = False,
) -> QuerySet[DataAsset]:
    """The data assets of exactly this scope, by name: the newest version of each
    (annotated ``version_count``), or every version with ``all_versions``. One query.

    Callers that serve a user check read access first (the scope's workspace).
    """
    scope = _scope(workspace=workspace, project=project, experiment=experiment)
    rows = DataAsset.objects.filter(scope_key=scope.key)
    if all_versions:
        return rows.order_by("name", "-version")
    same_name = Asset.objects.filter(scope_key=scope.key, kind=AssetKind.DATA, name=OuterRef("name"))
    counts = same_name.order_by().values("name").annotate(n=Count("id")).values("n")
    return (
        rows.filter(~Exists(same_name.filter(version__gt=OuterRef("version"))))
        .annotate(version_count=Subquery(counts))
        .order_by("name")
    )


def data_asset_get(
    *,
    workspace: Workspace | None = None,
    project: Project | None = None,
    experiment: Experiment | None = None,
    name: str,
    version: int | None = None,
) -> DataAsset:
    """The newest (or the pinned) version of ``name`` in exactly this scope.

    Raises ``AssetNotFound`` (a ``LookupError``) naming the scope, name and version.
    """
    scope = _scope(workspace=workspace, project=project, experiment=experiment)
    qs = DataAsset.objects.filter(scope_key=scope.key, name=asset_name_clean(name))
    if version is not None:
        qs = qs.filter(version=version)
    found = qs.order_by("-version").first()
    if found is None:
        pinned = f" version {version}" if version is not None else ""
        raise AssetNotFound(f"No data asset {name!r}{pinned} in {scope.label}.", [scope.label])
    return found


class DataLibrary:
    """The data assets of one workspace, project or experiment (SPEC §6).

    Obtained as ``workspace.data_assets``, ``project.data_assets`` or
    ``experiment.data_assets``. Without ``user`` the methods are the trusted
    server-side API; with it, writes need the editor or owner role.
    """

    def __init__(self, *, workspace: Workspace, project: Project | None = None, experiment: Experiment | None = None):
        self._scope = _scope(workspace=workspace, project=project, experiment=experiment)

    def __repr__(self) -> str:
        return f"<DataLibrary of {self._scope.label}>"

    @property
    def _keys(self) -> dict[str, Any]:
        return {
            "workspace": self._scope.workspace,
            "project": self._scope.project,
            "experiment": self._scope.experiment,
        }

    def import_asset(
        self,
        name: str,
        source: str | os.PathLike,
        action: str = ImportAction.COPY,
        tags: Iterable[str] = (),
        metadata: dict | None = None,
        *,
        user=None,
        description: str = "",
    ) -> Asset:
        """Import a server file or directory (see :func:`data_asset_import`)."""
        return data_asset_import(
            **self._keys,
            name=name,
            source=source,
            action=action,
            tags=tags,
            metadata=metadata,
            user=user,
            description=description,
        )

    def upload(
        self,
        name: str,
        fileobj: IO[bytes] | bytes,
        *,
        tags: Iterable[str] = (),
        metadata: dict | None = None,
        user=None,
        description: str = "",
    ) -> Asset:
        """Store a file object's bytes (see :func:`data_asset_upload`)."""
        return data_asset_upload(
            **self._keys, name=name, fileobj=fileobj, tags=tags, metadata=metadata, user=user, description=description
        )

    def get(self, name: str, version: int | None = None) -> DataAsset:
        """The newest or the pinned version; ``AssetNotFound`` otherwise."""
        return data_asset_get(**self._keys, name=name, version=version)

    def list(self, *, all_versions: bool = False) -> QuerySet[DataAsset]:
        """The newest version per name (with ``version_count``), or every version."""
        return data_library_list(**self._keys, all_versions=all_versions)


def data_library_for(obj: Workspace | Project | Experiment) -> DataLibrary:
    """The data library of a workspace, project or experiment."""
    if isinstance(obj, Experiment):
        return DataLibrary(workspace=obj.workspace, project=obj.project, experiment=obj)
    if isinstance(obj, Project):
        return DataLibrary(workspace=obj.workspace, project=obj)
    if isinstance(obj, Workspace):
        return DataLibrary(workspace=obj)
    raise TypeError(f"No data library for {type(obj).__name__}")
