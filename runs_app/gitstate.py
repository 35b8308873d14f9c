"""Git state of a workflow file's repository, read with one ``git status`` call.

A file outside any repository is recorded as such (all fields empty, ``dirty``
None), never as an error: scientists also keep workflows in plain folders.

Every launch reads the state afresh (nothing is cached, so an edit is never
missed): ``git --no-optional-locks status --porcelain=v2 --branch
--untracked-files=no`` gives the commit, the branch and whether tracked files
differ from HEAD (staged or not) in one process; ``git diff HEAD`` runs only
when the tree is dirty. ``--no-optional-locks`` keeps concurrent launches from
fighting over ``index.lock`` (status would otherwise refresh the index).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

#: Diffs larger than this are cut (with a marker) so one run cannot bloat the record.
MAX_DIFF_BYTES = 1_000_000
#: A git call that takes longer than this is abandoned (the state is recorded as unknown).
GIT_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class GitState:
    commit: str = ""
    branch: str = ""
    dirty: bool | None = None
    diff: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _git(args: list[str], *, cwd: Path) -> subprocess.CompletedProcess:
    executable = shutil.which("git")
    if executable is None:
        raise OSError("git is not installed")
    env = {**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
    return subprocess.run(
        [executable, "-C", str(cwd), "--no-optional-locks", *args],
        capture_output=True,
        timeout=GIT_TIMEOUT_SECONDS,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def git_capture(path: Path) -> GitState:
    """Commit, branch, dirty flag and uncommitted diff (staged + unstaged vs HEAD) of ``path``'s repository."""
    where = path if path.is_dir() else path.parent
    try:
        status = _git(["status", "--porcelain=v2", "--branch", "--untracked-files=no", "--ignore-submodules=none"],
                      cwd=where)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return GitState()
    if status.returncode != 0:  # not a repository (or git refuses it): recorded as "no git state"
        return GitState()
    commit = branch = ""
    dirty = False
    for line in status.stdout.decode("utf-8", errors="replace").splitlines():
        if line.startswith("# branch.oid "):
            oid = line[len("# branch.oid ") :].strip()
            commit = "" if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line[len("# branch.head ") :].strip()
            branch = "" if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True  # "1 …" changed, "2 …" renamed/copied, "u …" unmerged: tracked content differs
    diff = ""
    if commit and dirty:
        try:
            out = _git(["diff", "HEAD"], cwd=where)
            diff = out.stdout.decode("utf-8", errors="replace") if out.returncode == 0 else ""
            diff = diff[:-1] if diff.endswith("\n") else diff  # as recorded before (GitPython strips it)
        except (OSError, subprocess.TimeoutExpired):
            diff = ""
        if len(diff.encode()) > MAX_DIFF_BYTES:
            diff = diff.encode()[:MAX_DIFF_BYTES].decode(errors="ignore") + "\n[diff truncated]\n"
    return GitState(commit=commit, branch=branch, dirty=dirty, diff=diff)
