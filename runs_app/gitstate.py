"""Git state of a workflow file's repository, captured with GitPython.

A file outside any repository is recorded as such (all fields empty, ``dirty``
None), never as an error: scientists also keep workflows in plain folders.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

#: Diffs larger than this are cut (with a marker) so one run cannot bloat the record.
MAX_DIFF_BYTES = 1_000_000


@dataclass(frozen=True)
class GitState:
    commit: str = ""
    branch: str = ""
    dirty: bool | None = None
    diff: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def git_capture(path: Path) -> GitState:
    """Commit, branch, dirty flag and uncommitted diff (staged + unstaged vs HEAD) of ``path``'s repository."""
    import git  # imported lazily: GitPython spawns git, only needed at capture time

    try:
        repo = git.Repo(path if path.is_dir() else path.parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return GitState()
    try:
        try:
            commit = repo.head.commit.hexsha
        except ValueError:  # a repository without any commit yet
            commit = ""
        try:
            branch = repo.active_branch.name
        except TypeError:  # detached HEAD
            branch = ""
        dirty = repo.is_dirty(untracked_files=False)
        diff = repo.git.diff("HEAD") if commit and dirty else ""
        if len(diff.encode()) > MAX_DIFF_BYTES:
            diff = diff.encode()[:MAX_DIFF_BYTES].decode(errors="ignore") + "\n[diff truncated]\n"
        return GitState(commit=commit, branch=branch, dirty=dirty, diff=diff)
    finally:
        repo.close()
