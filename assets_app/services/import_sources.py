"""Which server paths a data library may import from, and reading an imported asset's bytes back.

Invariants:
- Server paths are imported only from strictly below a directory of
  ``settings.MOLEXP_IMPORT_ROOTS``. The real path (every symlink resolved) must
  stay below a root; ``..`` components, NUL bytes, relative paths, paths inside
  the asset store itself, paths in or holding a workflow directory
  (``MOLEXP_WORKFLOW_DIRS``: a move or link would touch server code) and special
  files are refused, before existence is checked (an outsider path's existence is
  never revealed).
- A ``symlink`` import is read through its link, whose target may have been
  swapped since: ``asset_bytes_open`` re-checks it against the roots on every read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError

from ..choices import ImportAction
from ..models import Asset


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
