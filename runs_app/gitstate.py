"""Git state of a workflow's folder, read with GitPython and one ``git status`` process (SPEC §12).

A file outside any repository is recorded as such (all fields empty, ``dirty``
None), never as an error: scientists also keep workflows in plain folders.

Every launch reads the state afresh (nothing is cached, so an edit is never
missed). GitPython opens the repository in pure Python (finding it and
reading its index spawn no process), then one
``git --no-optional-locks status --porcelain=v2 --branch -uall -z -- <root>``
gives the commit, the branch, the changed tracked files and the untracked files.
``git diff HEAD -- <root>`` runs only when a tracked file under the root
differs (a second process on a dirty tree only). ``--no-optional-locks`` keeps
concurrent launches from fighting over ``index.lock``. GitPython spawns the process
(``as_process``); its output is read with ``Popen.communicate(timeout=…)``, which
needs no watchdog thread per call as GitPython's ``kill_after_timeout`` does.

Two things are remembered between launches, each only while a ``stat`` shows that what it
was read from is unchanged (anything written in the last seconds is read again every time,
as git treats "racy" files):
- which paths ``.git/index`` lists (to tell a committed workflow file from an ignored one),
  keyed by the index file's path, size, mtime and inode (git rewrites the index through a
  new file, so any change shows in that key);
- the ``git.Repo`` found from a folder (GitPython's discovery: the folders up to the work
  tree, its ``.git`` and config files), keyed by the inode and mtime of every folder from the
  workflow's up to the work tree (a ``.git`` appearing or vanishing on the way changes one),
  of ``.git`` and of the config files. The commit, branch, changes and untracked files come
  from the ``git status`` process of each launch, never from memory.

Both commands are restricted to the workflow's root folder (a pathspec): an
uncommitted change elsewhere in the repository (a server's ``.env``) is never
recorded, shown or exported (issue 12, finding 4).

``workflow_state`` says what the commit holds of the workflow file itself:
``committed`` (in HEAD, unchanged), ``modified`` (in HEAD, changed), or
``untracked`` (in no commit: "git checkout <commit>" cannot bring it back).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import git

#: Diffs larger than this are cut (with a marker) so one run cannot bloat the record.
MAX_DIFF_BYTES = 1_000_000
#: Untracked paths recorded at most (the count is kept in full).
MAX_UNTRACKED = 500
#: A git call that takes longer than this is abandoned (the state is recorded as unknown).
GIT_TIMEOUT_SECONDS = 30

COMMITTED, MODIFIED, UNTRACKED = "committed", "modified", "untracked"


@dataclass(frozen=True)
class GitState:
    commit: str = ""
    branch: str = ""
    dirty: bool | None = None
    diff: str = ""
    untracked: list[str] = field(default_factory=list)  # relative to the workflow root
    untracked_count: int = 0
    workflow_state: str = ""  # committed | modified | untracked | "" (no repository)

    def as_dict(self) -> dict:
        return asdict(self)


def _run(repo: git.Repo, *args: str) -> tuple[int, bytes]:
    """Exit status and stdout of one git command spawned by GitPython; killed after ``GIT_TIMEOUT_SECONDS``."""
    env = {"LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
    command = ["git", "--no-optional-locks", *args]
    process = repo.git.execute(command, as_process=True, env=env)
    proc = process.proc
    try:
        out, _err = proc.communicate(timeout=GIT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise git.GitCommandError(command, -9, f"no answer in {GIT_TIMEOUT_SECONDS} s") from None
    return proc.returncode, out


#: Index files written less than this long ago (ns) are parsed again at every launch.
RACY_NS = 2_000_000_000
#: (index path, size, mtime_ns, inode) → the paths that index lists at stage 0.
_index_cache: dict[tuple[str, int, int, int], frozenset[str]] = {}


def _in_index(repo: git.Repo, rel: str) -> bool:
    """Whether ``rel`` is tracked (GitPython parses ``.git/index`` in Python: no process)."""
    try:
        index = repo.index
        st = os.stat(index.path)
        key = (index.path, st.st_size, st.st_mtime_ns, st.st_ino)
        paths = _index_cache.get(key)
        if paths is None:
            paths = frozenset(path for path, stage in index.entries if stage == 0)
            if time.time_ns() - st.st_mtime_ns > RACY_NS:
                if len(_index_cache) > 64:
                    _index_cache.clear()
                _index_cache[key] = paths
        return rel in paths
    except Exception:  # no index, or one GitPython cannot read: do not claim the file is committed
        return False


#: Folder → (stat key, Repo) of repositories found by GitPython (module docstring).
_repos: dict[str, tuple[tuple, git.Repo]] = {}
_repos_lock = threading.Lock()


def _stat_key(paths: list[str]) -> tuple | None:
    """``(inode, mtime_ns, size)`` of each path (None when absent); None if one was written in the last seconds."""
    now = time.time_ns()
    key = []
    for name in paths:
        try:
            st = os.stat(name)
        except OSError:
            key.append(None)
            continue
        if now - st.st_mtime_ns <= RACY_NS:
            return None
        key.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(key)


def _discovery_paths(where: Path, repo: git.Repo) -> list[str] | None:
    """What GitPython's discovery from ``where`` read: the folders up to the work tree, ``.git``, config files."""
    if not repo.working_tree_dir:
        return None
    top = Path(repo.working_tree_dir).resolve()
    folder = where.resolve()
    if not folder.is_relative_to(top):
        return None
    folders = [folder, *(p for p in folder.parents if p.is_relative_to(top))]
    return [*map(str, folders), str(top / ".git"), os.path.join(repo.git_dir, "config"),
            os.path.join(repo.common_dir, "config")]  # fmt: skip


def _repo_open(where: Path) -> tuple[git.Repo, bool]:
    """The repository holding ``where`` and whether it is shared (kept for later launches: never closed).

    Raises what ``git.Repo`` raises when there is none.
    """
    name = str(where)
    with _repos_lock:
        known = _repos.get(name)
    if known is not None:
        paths = _discovery_paths(where, known[1])
        if paths is not None and _stat_key(paths) == known[0]:
            return known[1], True
    repo = git.Repo(where, search_parent_directories=True)
    paths = _discovery_paths(where, repo)
    key = _stat_key(paths) if paths is not None else None
    if key is None:
        return repo, False
    with _repos_lock:
        if len(_repos) > 64:
            _repos.clear()
        _repos[name] = (key, repo)
    return repo, True


def git_capture(path: Path, *, root: Path | None = None) -> GitState:
    """Commit, branch, dirty flag, diff and untracked files of ``root`` (default: ``path``'s folder).

    ``path`` is the workflow file (or a folder). Only files under ``root`` are looked at.
    """
    where = path if path.is_dir() else path.parent
    root = (root or where).resolve()
    try:
        repo, shared = _repo_open(where)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, OSError):
        return GitState()
    try:
        top = Path(repo.working_tree_dir or "").resolve()
        spec = root.relative_to(top).as_posix() if root.is_relative_to(top) else "."
        code, out = _run(repo, "-C", str(top), "status", "--porcelain=v2", "--branch", "-uall",
                         "--ignore-submodules=none", "-z", "--", spec)  # fmt: skip
    except (git.GitCommandError, OSError, ValueError):
        return GitState()
    if code != 0:  # git refuses the repository: recorded as "no git state"
        return GitState()
    commit = branch = ""
    dirty = False
    changed: dict[str, str] = {}  # path → XY
    untracked: list[str] = []
    fields = out.decode("utf-8", errors="replace").split("\0")
    skip_next = False
    for entry in fields:
        if skip_next:  # the original path of a rename/copy entry
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
            dirty = True  # "1 …" changed, "2 …" renamed/copied, "u …" unmerged: tracked content differs
            parts = entry.split(" ", {"1": 8, "2": 9, "u": 10}[entry[0]])
            changed[parts[-1]] = parts[1]
            skip_next = entry[0] == "2"
    workflow_rel = ""
    if not path.is_dir():
        try:
            workflow_rel = path.resolve().relative_to(top).as_posix()
        except ValueError:
            workflow_rel = ""
    if not workflow_rel:
        workflow_state = ""
    elif not commit or workflow_rel in untracked or "A" in changed.get(workflow_rel, ""):
        workflow_state = UNTRACKED  # in no commit (new, or only staged)
    elif workflow_rel in changed:
        workflow_state = MODIFIED
    else:  # unchanged: committed, unless git ignores it (then it is in no commit either)
        workflow_state = COMMITTED if _in_index(repo, workflow_rel) else UNTRACKED
    diff = ""
    if commit and dirty:
        try:
            code, raw = _run(repo, "-C", str(top), "diff", "HEAD", "--", spec)
            diff = raw.decode("utf-8", errors="replace") if code == 0 else ""
        except (git.GitCommandError, OSError):
            diff = ""
        diff = diff[:-1] if diff.endswith("\n") else diff
        if len(diff.encode()) > MAX_DIFF_BYTES:
            diff = diff.encode()[:MAX_DIFF_BYTES].decode(errors="ignore") + "\n[diff truncated]\n"
    relative = []
    for rel in sorted(untracked):
        full = top / rel
        relative.append(os.path.relpath(full, root) if full.is_relative_to(root) else rel)
    if not shared:
        repo.close()
    return GitState(commit=commit, branch=branch, dirty=dirty, diff=diff, untracked=relative[:MAX_UNTRACKED],
                    untracked_count=len(relative), workflow_state=workflow_state)  # fmt: skip
