"""Workflow discovery: which workflow files the server has, and the topology of each (SPEC §4, §12).

Invariants:
- Only files of the server's workflow directories (``MOLEXP_WORKFLOW_DIRS``) are
  inspected, whoever calls; nothing else is ever opened.
- A workflow file is never imported in this process: its topology is read by
  ``runs_app.workflow.inspect`` in a short-lived subprocess.
- The topology cache is keyed by content (the file's path and SHA-256 and a
  fingerprint of the ``.py`` files of its root folder), so identical inputs share one
  inspection and any edit (of the file or of a helper it may import) inspects again.
  Successful results are kept in this process and in the shared Django cache; errors
  only in this process (they may be transient).
- Writes nothing but the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

from ..profiles import MOLCFG_NAME, ProfileError, load_molcfg
from ..selectors import workflow_file_list
from .core import workflow_path_is_server_file, workflow_resolve

logger = logging.getLogger(__name__)

_topology_cache: dict[tuple[str, str, str], dict] = {}
#: Shared cache (Redis in production, files when embedded) of inspected topologies, so a new
#: web process, a ``manage.py launch`` or a restart does not spawn the inspector again.
TOPOLOGY_CACHE_PREFIX = "molexp:topology:v1:"
TOPOLOGY_CACHE_SECONDS = 30 * 24 * 3600


def _siblings_fingerprint(folder: Path) -> str:
    """Path, size and mtime of the Python files of the workflow's root folder (helpers it may import,
    in sub-folders too), with the snapshot's pruning (hidden folders, ``__pycache__``, ``.git``)."""
    root = next((r for r in map(lambda d: Path(d).resolve(), settings.MOLEXP_WORKFLOW_DIRS)
                 if folder.resolve().is_relative_to(r)), folder)  # fmt: skip
    entries = []
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                try:
                    st = os.stat(os.path.join(current, name))
                except OSError:
                    continue
                entries.append(f"{os.path.relpath(os.path.join(current, name), root)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def workflow_inspect(*, path: Path, source: bytes | None = None) -> dict:
    """Topologies of the workflows in ``path``, read in a short-lived subprocess (cached by content).

    Returns ``{"workflows": [...]}`` or ``{"error": "..."}``; never imports the file here.
    The key is the file's path, the SHA-256 of its bytes (``source`` when the caller
    already read them) and a fingerprint of the ``.py`` files beside it (helpers the
    workflow may import): identical inputs have an identical topology. Results are kept in
    this process and, when the inspection succeeded, in the Django cache shared by all
    processes; errors are not shared (they may be transient, e.g. a timeout).
    """
    if not workflow_path_is_server_file(path):
        # Only a file of the server's workflow folders is ever inspected (SPEC §12), whoever calls.
        return {"error": f"{path.name} is not a workflow file of the server's workflow directories"}
    data = path.read_bytes() if source is None else source
    key = (str(path), hashlib.sha256(data).hexdigest(), _siblings_fingerprint(path.parent))
    cached = _topology_cache.get(key)
    if cached is not None:
        return cached
    shared_key = TOPOLOGY_CACHE_PREFIX + hashlib.sha256("\0".join(key).encode()).hexdigest()
    try:
        shared = cache.get(shared_key)
    except Exception:  # the cache is an optimization: never fail a launch because it is down
        logger.warning("topology cache unavailable; inspecting %s", path, exc_info=True)
        shared = None
    if isinstance(shared, dict) and "workflows" in shared:
        _topology_cache[key] = shared
        return shared
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "runs_app.workflow.inspect", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=settings.BASE_DIR,
            env={**os.environ, "PYTHONPATH": str(settings.BASE_DIR)},
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
        if not result:
            result = {"error": f"inspecting {path.name} failed: {proc.stderr.strip()[-500:]}"}
    except subprocess.TimeoutExpired:
        result = {"error": f"inspecting {path.name} took longer than 60 s"}
    if len(_topology_cache) > 256:
        _topology_cache.clear()
    _topology_cache[key] = result
    if "workflows" in result and not result.get("error"):
        try:
            cache.set(shared_key, result, timeout=TOPOLOGY_CACHE_SECONDS)
        except Exception:
            logger.warning("topology cache unavailable; not storing %s", path, exc_info=True)
    return result


def workflow_list() -> list[dict]:
    """Every workflow file under ``MOLEXP_WORKFLOW_DIRS`` with its workflows, tasks and profiles."""
    found = []
    for rel in workflow_file_list():
        try:
            path = workflow_resolve(rel)
        except ValidationError:
            continue
        entry: dict[str, Any] = {"workflow_source": rel, "directory": str(path.parent)}
        info = workflow_inspect(path=path)
        entry["workflows"] = info.get("workflows", [])
        entry["error"] = info.get("error", "")
        try:
            molcfg = load_molcfg(path.parent / MOLCFG_NAME)
            entry["profiles"] = sorted(molcfg["profiles"])
            entry["defaults"] = molcfg["defaults"]
        except ProfileError as exc:
            entry["profiles"], entry["defaults"] = [], {}
            entry["error"] = entry["error"] or str(exc)
        found.append(entry)
    return found


def workflow_names(*, workflow_source: str) -> dict[str, Any]:
    """The workflows one file defines, for the new-experiment form: ``{"names": [...], "error": ""}``.

    ``workflow_source`` must be a file discovery lists (``ValidationError`` otherwise, naming it);
    its topology comes from ``workflow_inspect`` (subprocess, cached by content).
    """
    if workflow_source not in workflow_file_list():
        raise ValidationError({"workflow_source": f"No workflow file {workflow_source!r} on this server."})
    info = workflow_inspect(path=workflow_resolve(workflow_source))
    return {"names": sorted(w["name"] for w in info.get("workflows", [])), "error": info.get("error", "")}
