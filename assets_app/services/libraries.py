"""Data libraries: the data assets of one workspace, project or experiment (SPEC §6, §7).

``workspace.data_assets``, ``project.data_assets`` and ``experiment.data_assets``
return a :class:`DataLibrary` bound to that scope. Imports, uploads, the
``import_asset`` command and the library pages all go through the functions here.

Invariants:
- Versions are per (scope, name): the same bytes as the newest version return
  that version (no new row); different bytes make the next version. Bytes are
  content-addressed (``blobs/<aa>/<bb>/<sha256>``), so identical bytes are stored
  once whatever their names. SHA-256 and size are always recorded.
- Server paths are imported only from strictly below a directory of
  ``settings.MOLEXP_IMPORT_ROOTS``. The real path (every symlink resolved) must
  stay below a root; ``..`` components, NUL bytes, relative paths, paths inside
  the asset store itself, paths in or holding a workflow directory
  (``MOLEXP_WORKFLOW_DIRS``: a move or link would touch server code) and
  special files are refused. A directory is refused
  when it holds a symlink whose target escapes the roots, a symlinked directory
  or a special file. Every check runs before anything is written: a refused
  import leaves no file and no row.
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

Directories become one asset. Their canonical form is an uncompressed POSIX
(pax) tar archive of the tree: members sorted by path, relative names without
a leading folder, mtime 0, uid/gid 0, no user/group names, mode 0644 (0755 for
directories and executables). The same tree therefore always gives the same
SHA-256, whatever its folder name or timestamps, and so the same version.
``metadata["directory"]`` lists the files (path, size, sha256). ``copy`` and
``move`` store that archive (media type ``application/x-tar``); ``symlink`` stores
a link to the directory and ``hardlink`` a tree of hard links under ``links/``
(media type ``inode/directory``), both recording the archive's SHA-256 and size.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery

from runs_app.models import Experiment, Project, Workspace

from .. import storage
from ..choices import AssetKind, ImportAction, ScopeKind
from ..models import Asset, DataAsset
from .core import (
    CHUNK,
    AssetLookupError,
    StoredBlob,
    _blob_name,
    _clean_tags,
    _tmp_dir,
    asset_create,
    asset_name_clean,
    blob_store_chunks,
    blob_store_fileobj,
    blob_store_path,
)

#: The actions an import of a server path may take (``upload`` is for uploads only).
IMPORT_ACTIONS = (ImportAction.COPY, ImportAction.MOVE, ImportAction.SYMLINK, ImportAction.HARDLINK)
#: Files of a directory listed in ``metadata["directory"]["files"]`` at most.
DIRECTORY_LISTING_MAX = 1000
DIRECTORY_MEDIA_TYPE = "application/x-tar"
LINKED_DIRECTORY_MEDIA_TYPE = "inode/directory"
_TAR_BLOCK = tarfile.BLOCKSIZE
_TAR_RECORD = tarfile.RECORDSIZE


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
    from runs_app.choices import Role
    from runs_app.selectors import workspace_require_role

    workspace_require_role(user=user, workspace=scope.workspace, role=Role.EDITOR)


# --- import roots -------------------------------------------------------------------------


def _import_roots() -> list[Path]:
    roots = []
    for root in getattr(settings, "MOLEXP_IMPORT_ROOTS", None) or []:
        root = os.fspath(root)
        if root and "\x00" not in root and os.path.isabs(root):
            roots.append(Path(os.path.realpath(root)))
    return roots


def _below(path: Path, roots: list[Path]) -> bool:
    """Strictly below one of ``roots`` (``path`` and ``roots`` are real paths)."""
    return any(path != root and path.is_relative_to(root) for root in roots)


def _in_store(path: Path) -> bool:
    media = Path(os.path.realpath(settings.MEDIA_ROOT))
    return path == media or path.is_relative_to(media)


def _touches_workflow_dirs(path: Path) -> bool:
    """Inside a workflow directory, or holding one: importing it could move, link or alias server code."""
    for directory in getattr(settings, "MOLEXP_WORKFLOW_DIRS", None) or []:
        root = Path(os.path.realpath(directory))
        if path == root or path.is_relative_to(root) or root.is_relative_to(path):
            return True
    return False


def import_source_resolve(source: str | os.PathLike) -> Path:
    """Check a server path for import and return its real path.

    Raises ``ValidationError`` (key ``source``) naming the problem: not a
    string, NUL byte, relative path, ``..`` component, no import roots
    configured, real path (symlinks resolved) not strictly below a root, inside
    the asset store, missing, or neither a regular file nor a directory.
    """

    def refuse(message: str) -> ValidationError:
        return ValidationError({"source": message})

    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if isinstance(source, bytes):
        source = os.fsdecode(source)
    if not isinstance(source, str) or not source:
        raise refuse("A source path is required.")
    if "\x00" in source:
        raise refuse("The source path contains a NUL byte.")
    if not os.path.isabs(source):
        raise refuse(f"The source path must be absolute: {source!r}.")
    if ".." in source.replace("\\", "/").split("/"):
        raise refuse("The source path may not contain '..'.")
    roots = _import_roots()
    if not roots:
        raise refuse("Imports from server paths are disabled: MOLEXP_IMPORT_ROOTS is not set.")
    real = Path(os.path.realpath(source))
    # Checked before existence, so an outsider path's existence is never revealed.
    if not _below(real, roots):
        raise refuse(f"{source!r} is not below an import root (MOLEXP_IMPORT_ROOTS), symlinks resolved.")
    if _in_store(real):
        raise refuse("The source path is inside the asset store.")
    if _touches_workflow_dirs(real):
        raise refuse(
            "The source path is or holds a workflow directory (MOLEXP_WORKFLOW_DIRS): server code is not data."
        )
    try:
        mode = os.stat(real).st_mode
    except OSError:
        raise refuse(f"{source!r} does not exist.") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise refuse(f"{source!r} is neither a regular file nor a directory.")
    return real


# --- directories ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    rel: str  # posix path relative to the imported directory
    path: Path  # the bytes to read (a symlink's resolved target)
    is_dir: bool
    size: int
    executable: bool


def _tree_scan(root: Path, roots: list[Path]) -> list[_Entry]:
    """Every directory and file below ``root``, sorted by path; refuses unsafe members."""
    entries: list[_Entry] = []

    def refuse(rel: str, why: str) -> ValidationError:
        return ValidationError({"source": f"The directory holds {rel!r}, {why}."})

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            rel = f"{prefix}{child.name}"
            if child.is_symlink():
                target = Path(os.path.realpath(child.path))
                if not _below(target, roots) or _in_store(target):
                    raise refuse(rel, "a symlink whose target escapes the import roots")
                try:
                    st = os.stat(target)
                except OSError:
                    raise refuse(rel, "a broken symlink") from None
                if stat.S_ISDIR(st.st_mode):
                    raise refuse(rel, "a symlink to a directory (not supported inside an imported directory)")
                if not stat.S_ISREG(st.st_mode):
                    raise refuse(rel, "a symlink to a special file")
                entries.append(_Entry(rel, target, False, st.st_size, bool(st.st_mode & 0o111)))
            elif child.is_dir(follow_symlinks=False):
                entries.append(_Entry(rel, Path(child.path), True, 0, True))
                walk(Path(child.path), f"{rel}/")
            elif child.is_file(follow_symlinks=False):
                st = child.stat(follow_symlinks=False)
                entries.append(_Entry(rel, Path(child.path), False, st.st_size, bool(st.st_mode & 0o111)))
            else:
                raise refuse(rel, "a special file (fifo, socket or device)")

    walk(root, "")
    entries.sort(key=lambda e: e.rel.split("/"))
    return entries


def _tar_header(entry: _Entry) -> bytes:
    info = tarfile.TarInfo(entry.rel)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.is_dir:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        info.size = 0
    else:
        info.type = tarfile.REGTYPE
        info.mode = 0o755 if entry.executable else 0o644
        info.size = entry.size
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _tar_chunks(entries: list[_Entry], listing: list[dict[str, Any]]) -> Iterator[bytes]:
    """The canonical tar archive of ``entries``, streamed; fills ``listing`` with each file's digest."""
    total = 0
    for entry in entries:
        header = _tar_header(entry)
        total += len(header)
        yield header
        if entry.is_dir:
            continue
        digest = hashlib.sha256()
        read = 0
        with open(entry.path, "rb") as fh:
            while read < entry.size:
                chunk = fh.read(min(CHUNK, entry.size - read))
                if not chunk:
                    break
                digest.update(chunk)
                read += len(chunk)
                yield chunk
        if read != entry.size:
            raise ValidationError({"source": f"{entry.rel!r} changed while it was being imported."})
        pad = (-entry.size) % _TAR_BLOCK
        if pad:
            yield b"\0" * pad
        total += entry.size + pad
        listing.append({"path": entry.rel, "size": entry.size, "sha256": digest.hexdigest()})
    end = 2 * _TAR_BLOCK
    end += (-(total + end)) % _TAR_RECORD
    yield b"\0" * end


def _directory_metadata(entries: list[_Entry], listing: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": "tar",
        "file_count": len(listing),
        "directory_count": sum(1 for e in entries if e.is_dir),
        "total_bytes": sum(item["size"] for item in listing),
        "files": listing[:DIRECTORY_LISTING_MAX],
        "files_truncated": len(listing) > DIRECTORY_LISTING_MAX,
    }


class AssetBytesUnavailable(Exception):
    """An asset's bytes cannot be read (no file, gone from storage, or a link that left the import roots)."""


def asset_bytes_open(*, asset: Asset) -> IO[bytes]:
    """Open an asset's bytes for a download or preview: a seekable stream with a ``size``.

    A ``symlink`` import is read through its link, whose target may have been swapped
    since the import: it must still resolve below an import root, else the bytes are
    refused. Raises ``AssetBytesUnavailable``.
    """
    if asset.import_action == ImportAction.SYMLINK:
        try:
            import_source_resolve(os.path.realpath(asset.path))
        except (ValidationError, NotImplementedError, ValueError):
            raise AssetBytesUnavailable("This asset's linked source is no longer below an import root.") from None
    try:
        return asset.open("rb")
    except (FileNotFoundError, OSError):
        raise AssetBytesUnavailable("This asset has no file to download.") from None


# --- hashing and linking ----------------------------------------------------------------------


def _digest_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _local_store() -> None:
    if not storage.is_local():
        raise ValidationError(
            {"action": "symlink and hardlink need the file-system storage backend; use copy or move."}
        )


def _link_name(sha256: str, real: Path, action: str) -> str:
    key = hashlib.sha256(f"{action}\x00{real}".encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"links/{sha256[:2]}/{sha256[2:4]}/{sha256}-{key}"


def _rename(src: Path, dst: Path) -> None:
    """``os.rename`` (a seam for tests that simulate another file system)."""
    os.rename(src, dst)


def _link(src: Path, dst: Path) -> None:
    """``os.link`` (a seam for tests that simulate another file system)."""
    os.link(src, dst)


def _publish(tmp: Path, final: Path) -> None:
    """Rename a finished temporary entry into place, or drop it if an identical one is there."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() or final.is_symlink():
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        else:
            tmp.unlink()
        return
    os.replace(tmp, final)


def _store_symlink(real: Path, sha256: str) -> str:
    name = _link_name(sha256, real, ImportAction.SYMLINK)
    final = Path(default_storage.path(name))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{uuid.uuid4().hex}.tmp"
    os.symlink(real, tmp)
    if final.is_symlink() and os.readlink(final) != str(real):
        os.replace(tmp, final)  # stale link under a name keyed by this source: repoint it
    else:
        _publish(tmp, final)
    return name


def _hardlink_error(exc: OSError) -> ValidationError:
    if exc.errno == errno.EXDEV:
        why = "the source is on another file system than the asset store (hard links cannot cross file systems)"
    else:
        why = f"the file system refused the hard link ({exc.strerror})"
    return ValidationError({"action": f"Cannot hardlink: {why}. Use copy, move or symlink."})


def _store_hardlink_file(real: Path, sha256: str) -> str:
    name = _link_name(sha256, real, ImportAction.HARDLINK)
    final = Path(default_storage.path(name))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{uuid.uuid4().hex}.tmp"
    try:
        _link(real, tmp)
    except OSError as exc:
        raise _hardlink_error(exc) from None
    _publish(tmp, final)
    return name


def _store_hardlink_tree(entries: list[_Entry], real: Path, sha256: str) -> str:
    name = _link_name(sha256, real, ImportAction.HARDLINK)
    final = Path(default_storage.path(name))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    try:
        for entry in entries:
            target = tmp.joinpath(*entry.rel.split("/"))
            if entry.is_dir:
                target.mkdir()
            else:
                _link(entry.path, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _hardlink_error(exc) from None
    _publish(tmp, final)
    return name


def _move_file(real: Path) -> StoredBlob:
    """Rename the file into the store (same file system) or copy it and remove the source."""
    if not storage.is_local():
        blob = blob_store_path(real)  # an object store: upload it, then remove the source
        real.unlink()
        return blob
    tmp = _tmp_dir() / f"{uuid.uuid4().hex}.move"
    try:
        _rename(real, tmp)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise ValidationError({"source": f"Cannot move the source: {exc.strerror}."}) from None
        blob = blob_store_path(real)  # another file system: copy, then remove the source
        real.unlink()
        return blob
    try:
        digest = hashlib.sha256()
        size = 0
        with open(tmp, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(fh.fileno())
        sha = digest.hexdigest()
        name = _blob_name(sha)
        _publish(tmp, Path(default_storage.path(name)))
    except BaseException:
        if tmp.exists():
            os.replace(tmp, real)  # put the source back rather than lose it
        raise
    return StoredBlob(name=name, sha256=sha, size=size)


# --- services ---------------------------------------------------------------------------------


def _latest(scope: _Scope, name: str) -> Asset | None:
    return (
        Asset.objects.filter(scope_key=scope.key, kind=AssetKind.DATA, name=name)
        .order_by("-version")
        .only("id", "version", "sha256")
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
        if latest is not None and latest.sha256 == sha:
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
