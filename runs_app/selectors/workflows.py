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
from django.core.exceptions import ValidationError


def workflow_part_is_hidden(parts: tuple[str, ...] | list[str]) -> bool:
    """True when a path relative to a workflow directory has a hidden or private part.

    ``.name`` (dot files, hidden folders) and ``_name`` (private helpers such as
    ``_util.py``, ``__pycache__``, ``__init__.py``) are never workflows: discovery skips
    them and ``workflow_resolve`` refuses them, so naming one cannot make a
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
    values = tuple(
        os.fspath(getattr(settings, name, "") or "")
        for name in ("MEDIA_ROOT", "MOLEXP_UPLOAD_DIR", "MOLEXP_WORK_DIR", "VAR_DIR")
    )
    found = _data_dirs_resolved.get(values)
    if found is None:  # settings change only in tests; each launch asks twice
        found = _data_dirs_resolved[values] = [Path(os.path.realpath(v)) for v in values if v and os.path.isabs(v)]
    return list(found)


#: Configured folder values → their real paths (resolving them is a dozen ``lstat`` calls).
_data_dirs_resolved: dict[tuple[str, ...], list[Path]] = {}


def path_in_server_data(path: Path) -> bool:
    """True when the real path ``path`` is inside one of :func:`server_data_dirs`."""
    return any(path == data or path.is_relative_to(data) for data in server_data_dirs())


def workflow_file_list() -> list[str]:
    """The ``.py`` files under ``settings.MOLEXP_WORKFLOW_DIRS``, as paths relative to their directory.

    Hidden or private (``.``/``_``-prefixed) parts and symlinks leaving the directory are
    skipped; the result is sorted and de-duplicated (the first directory wins,
    as in ``workflow_resolve``).
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


def workflow_resolve(workflow_source: str) -> Path:
    """The absolute path of ``workflow_source`` under one of ``MOLEXP_WORKFLOW_DIRS``.

    The name must be a relative path to a ``.py`` file that stays inside its
    directory (no ``..``, no absolute path, no symlink escaping the directory)
    and that discovery would list: no hidden or private part (``.x``, ``_x``),
    neither as named nor once symlinks are resolved, and not inside a folder of
    uploaded or run-written files (``selectors.server_data_dirs``). SPEC §12:
    only the server's workflow files run; private helpers are not workflows.
    Raises ``ValidationError`` naming the problem.
    """
    raw = (workflow_source or "").strip()
    if not raw:
        raise ValidationError(
            {"workflow_source": "A workflow file is required (a path relative to a workflow directory)."}
        )
    if "\x00" in raw or raw.startswith(("/", "\\")) or ".." in Path(raw).parts or Path(raw).is_absolute():
        raise ValidationError({"workflow_source": f"{raw!r} must be a relative path inside a workflow directory."})
    if not raw.endswith(".py"):
        raise ValidationError({"workflow_source": f"{raw!r} is not a Python file (.py)."})
    hidden = ValidationError(
        {"workflow_source": f"{raw!r} is a hidden or private file (a part starts with '.' or '_'): not a workflow."}
    )
    if workflow_part_is_hidden(Path(raw).parts):
        raise hidden
    for directory in settings.MOLEXP_WORKFLOW_DIRS:
        root = Path(directory).resolve()
        candidate = (root / raw).resolve()
        if candidate.is_file() and candidate.is_relative_to(root):
            if workflow_part_is_hidden(candidate.relative_to(root).parts):
                raise hidden
            if path_in_server_data(candidate):
                raise ValidationError(
                    {"workflow_source": f"{raw!r} lies in a folder of uploaded or run-written files "
                     "(MEDIA_ROOT, MOLEXP_UPLOAD_DIR, MOLEXP_WORK_DIR or MOLEXP_VAR_DIR): not a workflow."}
                )  # fmt: skip
            return candidate
    dirs = ", ".join(str(d) for d in settings.MOLEXP_WORKFLOW_DIRS) or "(none configured)"
    raise ValidationError({"workflow_source": f"No workflow file {raw!r} in the workflow directories: {dirs}."})


def workflow_path_is_server_file(path: Path) -> bool:
    """True when ``path`` (absolute) is a ``.py`` file that ``workflow_resolve`` could return.

    The last check before a file is handed to the topology inspector: whatever a
    caller passes, only a non-hidden file inside ``MOLEXP_WORKFLOW_DIRS`` is inspected.
    """
    try:
        real = Path(path).resolve()
    except (OSError, RuntimeError):
        return False
    if real.suffix != ".py" or not real.is_file():
        return False
    for directory in settings.MOLEXP_WORKFLOW_DIRS:
        root = Path(directory).resolve()
        if (
            real.is_relative_to(root)
            and not workflow_part_is_hidden(real.relative_to(root).parts)
            and not path_in_server_data(real)
        ):
            return True
    return False
