"""Errors raised by workflow loading and execution; their messages name what went wrong."""

from molexp_site.errors import QuotaExceeded  # raised by an artifact or checkpoint save past the workspace quota

__all__ = [
    "AssetNotFound",
    "MapTaskFailed",
    "MissingTaskInput",
    "QuotaExceeded",
    "RunCancelled",
    "ShellCommandFailed",
    "ShellCommandTimedOut",
    "WorkflowError",
]


class WorkflowError(Exception):
    """A workflow definition problem found at load time (cycle, unknown or duplicate name, bad file)."""


class MissingTaskInput(Exception):
    """A task parameter without a value from dependencies, params, config or a default."""

    def __init__(self, task: str, parameter: str) -> None:
        super().__init__(
            f"Task {task!r} is missing input {parameter!r}: it is not an output of a dependency, "
            f"not in the run's params or config, and has no default"
        )
        self.task = task
        self.parameter = parameter


class MapTaskFailed(Exception):
    """Some elements of a fanned-out task failed; ``failures`` lists (index, type, message)."""

    def __init__(self, task: str, total: int, failures: list[tuple[int, str, str]]) -> None:
        lines = [f"[{index}] {etype}: {message}" for index, etype, message in failures]
        super().__init__(f"{len(failures)} of {total} elements of task {task!r} failed:\n" + "\n".join(lines))
        self.task = task
        self.total = total
        self.failures = failures


class ShellCommandFailed(Exception):
    """A ``shell`` command exited with a non-zero code; the message carries the output's tail."""

    def __init__(self, argv: list[str], returncode: int, tail: str) -> None:
        super().__init__(f"Command {argv!r} exited with code {returncode}. Last output:\n{tail}")
        self.argv = argv
        self.returncode = returncode
        self.tail = tail


class ShellCommandTimedOut(ShellCommandFailed):
    """A ``shell`` command ran longer than its ``timeout`` and was killed (with what it started)."""

    def __init__(self, argv: list[str], timeout: float, tail: str) -> None:
        Exception.__init__(self, f"Command {argv!r} timed out after {timeout:g} s and was killed. Last output:\n{tail}")
        self.argv = argv
        self.returncode = -9
        self.tail = tail
        self.timeout = timeout


class RunCancelled(Exception):
    """Raised inside a task when the run was asked to cancel (checked between tasks and on writes)."""


class AssetNotFound(LookupError):
    """``ctx.find_asset`` found nothing; the message lists the scopes searched."""
