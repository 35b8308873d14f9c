"""What a run records about where it ran: the script's snapshot bundle, git state and environment.

The snapshot follows the server's rules (SPEC §12): every ``*.py`` under the
script's folder, its ``molcfg.yaml`` and files named in ``snapshot: {include:
[glob, …]}`` of ``molcfg.yaml``; hidden folders, ``__pycache__``, ``.git`` and
patterns in ``.molexpignore`` are left out; above ``MOLEXP_SNAPSHOT_MAX_BYTES``
(default 50 MB) the run is refused naming the biggest files.
"""

from __future__ import annotations

import base64
import fnmatch
import importlib.metadata
import os
import platform
import re
import socket
import sys
from pathlib import Path
from typing import Any

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


class SnapshotTooLarge(Exception):
    pass


def calling_script() -> Path | None:
    """The file of ``__main__`` (the script that was run), or None in a notebook/REPL."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return Path(path).resolve() if path else None


def _include_globs(molcfg: Path) -> list[str]:
    """``snapshot: {include: [...]}`` of molcfg.yaml, read without a YAML library (a flow or block list)."""
    try:
        text = molcfg.read_text(encoding="utf-8")
    except OSError:
        return []
    match = re.search(r"^snapshot:\s*\n((?:[ \t]+.*\n?)+)", text, re.MULTILINE)
    if not match:
        return []
    block = match.group(1)
    flow = re.search(r"include:\s*\[(.*?)\]", block, re.DOTALL)
    if flow:
        return [g.strip().strip("'\"") for g in flow.group(1).split(",") if g.strip()]
    return [m.strip().strip("'\"") for m in re.findall(r"^\s*-\s*(.+)$", block.split("include:", 1)[-1], re.MULTILINE)]


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    if any(p.startswith(".") or p == "__pycache__" for p in parts[:-1]):
        return True
    if parts[-1] == ".molexpignore":
        return True
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(parts[-1], p) for p in patterns)


def snapshot_bundle(root: Path, script: Path | None, max_bytes: int | None = None) -> dict[str, Any]:
    """The bundle: ``{"root", "script", "files": {relpath: base64}}``."""
    if max_bytes is None:
        max_bytes = int(os.environ.get("MOLEXP_SNAPSHOT_MAX_BYTES", DEFAULT_MAX_BYTES))
    ignore_file = root / ".molexpignore"
    patterns: list[str] = []
    if ignore_file.exists():
        patterns = [
            line.strip().rstrip("/")
            for line in ignore_file.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
    includes = _include_globs(root / "molcfg.yaml")
    chosen: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        for filename in filenames:
            path = Path(dirpath) / filename
            rel = path.relative_to(root).as_posix()
            wanted = filename.endswith(".py") or rel == "molcfg.yaml" or any(fnmatch.fnmatch(rel, g) for g in includes)
            if wanted and not _ignored(rel, patterns) and path.is_file():
                chosen[rel] = path
    sizes = {rel: path.stat().st_size for rel, path in chosen.items()}
    if sum(sizes.values()) > max_bytes:
        biggest = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
        names = ", ".join(f"{rel} ({size} bytes)" for rel, size in biggest)
        raise SnapshotTooLarge(f"The snapshot of {root} is over {max_bytes} bytes; biggest files: {names}")
    files = {rel: base64.b64encode(chosen[rel].read_bytes()).decode("ascii") for rel in sorted(chosen)}
    rel_script = script.relative_to(root).as_posix() if script is not None else ""
    return {"root": str(root), "script": rel_script, "files": files}


def git_state(root: Path) -> dict[str, Any]:
    """Commit, branch, dirty flag, diff and untracked files under ``root`` (GitPython)."""
    try:
        import git
    except ImportError:  # pragma: no cover - a dependency of the distribution
        return {"error": "GitPython is not installed"}
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return {}
    except Exception as exc:  # git missing, unreadable repo
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    state: dict[str, Any] = {}
    try:
        state["commit"] = repo.head.commit.hexsha
    except ValueError:
        state["commit"] = ""  # no commit yet
    try:
        state["branch"] = repo.active_branch.name
    except TypeError:
        state["branch"] = ""  # detached head
    try:
        top = Path(repo.working_tree_dir or root)
        rel_root = root.resolve().relative_to(top.resolve()).as_posix()
        untracked = [p for p in repo.untracked_files if rel_root in ("", ".") or p.startswith(rel_root + "/")]
        state["untracked"] = untracked[:1000]
        state["diff"] = repo.git.diff("HEAD") if state["commit"] else ""
        state["dirty"] = bool(state["diff"]) or bool(untracked)
    except Exception as exc:
        state["error"] = f"{type(exc).__name__}: {exc}"[:500]
    return state


_packages: dict[str, str] | None = None


def environment() -> dict[str, Any]:
    global _packages
    if _packages is None:
        found = {}
        for dist in importlib.metadata.distributions():
            name = dist.metadata.get("Name")
            if name:
                found[name] = dist.version
        _packages = dict(sorted(found.items(), key=lambda kv: kv[0].lower()))
    return {
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": _packages,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "executable": sys.executable,
        "argv": sys.argv[:50],
    }
