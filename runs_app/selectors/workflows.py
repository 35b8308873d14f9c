"""Reads of the workflow files the server offers (``settings.MOLEXP_WORKFLOW_DIRS``).

Invariants:
- Hidden or private parts (``.name``, ``_name``), symlinks leaving a workflow directory and
  files inside server data folders (``server_data_dirs``) are never listed.
- Nothing here imports or runs workflow code; it only lists paths.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings


def workflow_part_is_hidden(parts: tuple[str, ...] | list[str]) -> bool:
    """True when a path relative to a workflow directory has a hidden or private part.

    ``.name`` (dot files, hidden folders) and ``_name`` (private helpers such as
    ``_util.py``, ``__pycache__``, ``__init__.py``) are never workflows: discovery skips
    them and ``services.workflow_resolve`` refuses them, so naming one cannot make a
    launch preview or a worker run its top-level code.
    """
    return any(part.startswith((".", "_")) for part in parts)


def server_data_dirs() -> list[Path]:
    """Folders whose bytes come from users or from runs (real paths): never a source of workflow code.

    ``MEDIA_ROOT`` (the asset store and, by default, partial uploads), ``MOLEXP_UPLOAD_DIR``,
    ``MOLEXP_WORK_DIR`` (what tasks write) and ``MOLEXP_VAR_DIR`` (database, broker, cache).
    A workflow file inside one of them is neither listed nor resolved, whatever the
    configuration, and ``manage.py check`` reports the overlap (``runs_app.checks``).
    """
    found = []
    for value in (
        getattr(settings, "MEDIA_ROOT", ""),
        getattr(settings, "MOLEXP_UPLOAD_DIR", ""),
        getattr(settings, "MOLEXP_WORK_DIR", ""),
        getattr(settings, "VAR_DIR", ""),
    ):
        if value and os.path.isabs(os.fspath(value)):
            found.append(Path(os.path.realpath(value)))
    return found


def path_in_server_data(path: Path) -> bool:
    """True when the real path ``path`` is inside one of :func:`server_data_dirs`."""
    return any(path == data or path.is_relative_to(data) for data in server_data_dirs())


def workflow_file_list() -> list[str]:
    """The ``.py`` files under ``settings.MOLEXP_WORKFLOW_DIRS``, as paths relative to their directory.

    Hidden or private (``.``/``_``-prefixed) parts and symlinks leaving the directory are
    skipped; the result is sorted and de-duplicated (the first directory wins,
    as in ``services.workflow_resolve``).
    """
    found: list[str] = []
    for directory in settings.MOLEXP_WORKFLOW_DIRS:
        root = Path(directory).resolve()
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root)
            # hidden files and private helper modules ("_util.py", "__pycache__") are not workflows
            if workflow_part_is_hidden(rel.parts):
                continue
            real = path.resolve()
            if not real.is_relative_to(root) or not path.is_file():
                continue
            if workflow_part_is_hidden(real.relative_to(root).parts) or path_in_server_data(real):
                continue
            name = rel.as_posix()
            if name not in found:
                found.append(name)
    return sorted(found)
