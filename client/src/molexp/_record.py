"""What a run records about where it ran: the script's snapshot bundle, git state and environment.

The snapshot follows the server's rules (SPEC §12, ``runs_app/snapshot.py``): every
``*.py`` under the script's folder, the ``molcfg.yaml`` beside the script and files
named in its ``snapshot: {include: [glob, …]}``; hidden folders, ``__pycache__``,
``.git`` and patterns in ``.molexpignore`` are left out; above
``MOLEXP_SNAPSHOT_MAX_BYTES`` (default 50 MB) the run is refused naming the biggest
files. Each file goes with its sha256 and size; the manifest hash is the server's
formula. The git state is the server's (``runs_app/gitstate.py``): the same one
``git status`` restricted to the folder and the same field names. The client cannot
import the server (no Django), so both algorithms are kept here in step with it;
``tests/client/test_client_record.py`` checks that they give the server's answers.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

DEFAULT_MAX_BYTES = 50 * 1000 * 1000
IGNORE_FILE = ".molexpignore"
SKIPPED_DIRS = frozenset({"__pycache__", ".git"})
MAX_FILES = 20_000


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


# --- .molexpignore: the server's rules (runs_app/snapshot.py), a subset of gitignore ----------


@dataclass(frozen=True)
class _Rule:
    pattern: str
    negate: bool
    dir_only: bool
    anchored: bool


def _ignore_rules(root: Path) -> list[_Rule]:
    try:
        text = (root / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:] if negate else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if line.startswith("**/"):
            line = line[3:]
        anchored = "/" in line
        line = line.lstrip("/")
        if line:
            rules.append(_Rule(line, negate, dir_only, anchored))
    return rules


def _ignored(rules: list[_Rule], rel: str, *, is_dir: bool) -> bool:
    ignored = False
    name = rel.rsplit("/", 1)[-1]
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        if fnmatch.fnmatchcase(rel if rule.anchored else name, rule.pattern):
            ignored = not rule.negate
    return ignored


def _excluded_parts(rel: str) -> bool:
    parts = rel.split("/")
    return any(p.startswith(".") or p in SKIPPED_DIRS for p in parts[:-1]) or parts[-1] in SKIPPED_DIRS


def _candidates(root: Path, rules: list[_Rule]) -> list[str]:
    out = []
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel_folder == "." else rel_folder + "/"
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d not in SKIPPED_DIRS and not _ignored(rules, prefix + d, is_dir=True)
        )  # fmt: skip
        out.extend(prefix + name for name in sorted(files) if name.endswith(".py"))
    return out


def _included(root: Path, globs: list[str]) -> list[str]:
    out = []
    for pattern in globs:
        pure = PurePosixPath(pattern)
        if pure.is_absolute() or ".." in pure.parts or "\x00" in pattern:
            raise SnapshotTooLarge(f"molcfg.yaml snapshot.include: {pattern!r} must stay inside {root}.")
        out.extend(m.relative_to(root).as_posix() for m in sorted(root.glob(pattern)) if m.is_file())
    return out


def manifest_hash(manifest: dict[str, dict]) -> str:
    """Hex SHA-256 of the manifest's canonical JSON: the server's ``runs_app.snapshot.manifest_hash``."""
    canonical = {path: {"sha256": e["sha256"], "size": int(e["size"])} for path, e in manifest.items()}
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def snapshot_bundle(root: Path, script: Path | None, max_bytes: int | None = None) -> dict[str, Any]:
    """The bundle: ``{"script", "snapshot_hash", "files": {relpath: {"sha256", "size", "content"}}}``.

    The same selection as the server's ``runs_app.snapshot.bundle_collect`` (SPEC §12); the
    server checks every file's bytes against its sha256 and size and recomputes the hash.
    """
    if max_bytes is None:
        max_bytes = int(os.environ.get("MOLEXP_SNAPSHOT_MAX_BYTES", DEFAULT_MAX_BYTES))
    root = root.resolve()
    rules = _ignore_rules(root)
    script_rel = script.resolve().relative_to(root).as_posix() if script is not None else ""
    molcfg_rel = PurePosixPath(script_rel or "x").with_name("molcfg.yaml").as_posix()
    wanted = set(_candidates(root, rules))
    wanted.update(_included(root, _include_globs(root / molcfg_rel)))
    if (root / molcfg_rel).is_file():
        wanted.add(molcfg_rel)
    wanted = {rel for rel in wanted if not _excluded_parts(rel) and not _ignored(rules, rel, is_dir=False)}
    if script_rel:
        wanted.add(script_rel)
    if len(wanted) > MAX_FILES:
        raise SnapshotTooLarge(f"{root} holds {len(wanted)} files to snapshot; at most {MAX_FILES} ({IGNORE_FILE}).")
    sizes: dict[str, int] = {}
    for rel in sorted(wanted):
        path = root / rel
        try:
            if not path.resolve().is_relative_to(root):
                continue  # reached through a link leaving the folder: not part of its code
            sizes[rel] = path.stat().st_size
        except OSError:
            continue
    if sum(sizes.values()) > max_bytes:
        biggest = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        names = ", ".join(f"{rel} ({size} bytes)" for rel, size in biggest)
        raise SnapshotTooLarge(f"The snapshot of {root} is over {max_bytes} bytes; biggest files: {names}")
    files: dict[str, dict[str, Any]] = {}
    for rel in sorted(sizes):
        try:
            data = (root / rel).read_bytes()
        except OSError:
            continue
        files[rel] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "content": base64.b64encode(data).decode("ascii"),
        }
    manifest = {rel: {"sha256": e["sha256"], "size": e["size"]} for rel, e in files.items()}
    return {"script": script_rel, "snapshot_hash": manifest_hash(manifest), "files": files}


# --- git state: the server's algorithm (runs_app/gitstate.py), same field names ----------------

MAX_DIFF_BYTES = 1_000_000
MAX_UNTRACKED = 500
GIT_TIMEOUT_SECONDS = 30
COMMITTED, MODIFIED, UNTRACKED = "committed", "modified", "untracked"


def _empty_git() -> dict[str, Any]:
    return {"commit": "", "branch": "", "dirty": None, "diff": "", "untracked": [], "untracked_count": 0,
            "workflow_state": ""}  # fmt: skip


def git_state(root: Path, script: Path | None = None) -> dict[str, Any]:
    """Commit, branch, dirty flag, diff, untracked files under ``root`` and the script's state (GitPython).

    One ``git status --porcelain=v2`` restricted to ``root`` (and ``git diff HEAD`` when a
    tracked file differs), exactly as the server records a worker run (``GitState``). A folder
    outside any repository gives the empty state.
    """
    try:
        import git
    except ImportError:  # pragma: no cover - a dependency of the distribution
        return _empty_git()
    root = root.resolve()
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except Exception:  # not a repository, git missing, unreadable
        return _empty_git()

    def run(*args: str) -> tuple[int, bytes]:
        status, out, _err = repo.git.execute(
            ["git", "--no-optional-locks", *args], with_extended_output=True, with_exceptions=False,
            stdout_as_string=False, kill_after_timeout=GIT_TIMEOUT_SECONDS,
            env={"LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}, strip_newline_in_stdout=False,
        )  # fmt: skip
        return status, out

    try:
        top = Path(repo.working_tree_dir or "").resolve()
        spec = root.relative_to(top).as_posix() if root.is_relative_to(top) else "."
        code, out = run("-C", str(top), "status", "--porcelain=v2", "--branch", "-uall",
                        "--ignore-submodules=none", "-z", "--", spec)  # fmt: skip
    except Exception:
        return _empty_git()
    if code != 0:
        return _empty_git()
    commit = branch = ""
    dirty = False
    changed: dict[str, str] = {}
    untracked: list[str] = []
    skip_next = False
    for entry in out.decode("utf-8", errors="replace").split("\0"):
        if skip_next:
            skip_next = False
            continue
        if entry.startswith("# branch.oid "):
            oid = entry[len("# branch.oid ") :].strip()
            commit = "" if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            head = entry[len("# branch.head ") :].strip()
            branch = "" if head == "(detached)" else head
        elif entry.startswith("? "):
            untracked.append(entry[2:])
        elif entry[:2] in ("1 ", "2 ", "u "):
            dirty = True
            parts = entry.split(" ", {"1": 8, "2": 9, "u": 10}[entry[0]])
            changed[parts[-1]] = parts[1]
            skip_next = entry[0] == "2"
    workflow_rel = ""
    if script is not None:
        try:
            workflow_rel = script.resolve().relative_to(top).as_posix()
        except ValueError:
            workflow_rel = ""
    if not workflow_rel:
        workflow_state = ""
    elif not commit or workflow_rel in untracked or "A" in changed.get(workflow_rel, ""):
        workflow_state = UNTRACKED
    elif workflow_rel in changed:
        workflow_state = MODIFIED
    else:
        try:
            in_index = (workflow_rel, 0) in repo.index.entries
        except Exception:
            in_index = False
        workflow_state = COMMITTED if in_index else UNTRACKED
    diff = ""
    if commit and dirty:
        try:
            code, raw = run("-C", str(top), "diff", "HEAD", "--", spec)
            diff = raw.decode("utf-8", errors="replace") if code == 0 else ""
        except Exception:
            diff = ""
        diff = diff[:-1] if diff.endswith("\n") else diff
        if len(diff.encode()) > MAX_DIFF_BYTES:
            diff = diff.encode()[:MAX_DIFF_BYTES].decode(errors="ignore") + "\n[diff truncated]\n"
    relative = []
    for rel in sorted(untracked):
        full = top / rel
        relative.append(os.path.relpath(full, root) if full.is_relative_to(root) else rel)
    repo.close()
    return {"commit": commit, "branch": branch, "dirty": dirty, "diff": diff, "untracked": relative[:MAX_UNTRACKED],
            "untracked_count": len(relative), "workflow_state": workflow_state}  # fmt: skip


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
