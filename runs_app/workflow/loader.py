"""Load workflow code from source bytes (a run's snapshot or a file) in a fresh module.

Only the worker and the short-lived topology subprocess call this: the web
process never imports workflow code (SPEC §4).
"""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

from .authoring import Workflow
from .errors import WorkflowError


def load_workflows(source: bytes | str, *, filename: str, search_path: str | None = None) -> dict[str, Workflow]:
    """Execute ``source`` as a module and return its workflows by name, each validated.

    ``search_path`` (the workflow's directory) is put on ``sys.path`` so helper
    modules beside the workflow import as they would when run by hand.
    Raises ``WorkflowError`` for syntax errors, import-time exceptions, no or
    duplicate workflows, and invalid topologies.
    """
    text = source.decode("utf-8") if isinstance(source, bytes) else source
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    module_name = f"molexp_workflow_{digest}"
    module = types.ModuleType(module_name)
    module.__file__ = filename
    if search_path and search_path not in sys.path:
        sys.path.insert(0, search_path)
    sys.modules[module_name] = module  # lets pickle/dataclasses find classes defined in the workflow
    try:
        code = compile(text, filename, "exec")
        exec(code, module.__dict__)  # noqa: S102 - running the user's workflow is the product
    except SyntaxError as exc:
        raise WorkflowError(f"{Path(filename).name}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except WorkflowError as exc:
        raise WorkflowError(f"{Path(filename).name}: {exc}") from None
    except Exception as exc:
        raise WorkflowError(f"{Path(filename).name}: importing it raised {type(exc).__name__}: {exc}") from None
    found: dict[str, Workflow] = {}
    for value in list(module.__dict__.values()):
        if isinstance(value, Workflow):
            if value.name in found and found[value.name] is not value:
                raise WorkflowError(f"{Path(filename).name}: two workflows are named {value.name!r}")
            found[value.name] = value
    if not found:
        raise WorkflowError(f"{Path(filename).name}: defines no Workflow")
    for workflow in found.values():
        workflow.validate()
    return found


def pick_workflow(workflows: dict[str, Workflow], name: str | None, *, filename: str) -> Workflow:
    """The workflow called ``name``, or the only one when ``name`` is empty."""
    if name:
        if name not in workflows:
            raise WorkflowError(f"{filename}: no workflow named {name!r} (defines: {', '.join(sorted(workflows))})")
        return workflows[name]
    if len(workflows) > 1:
        raise WorkflowError(
            f"{filename}: defines several workflows ({', '.join(sorted(workflows))}); choose one with workflow_name"
        )
    return next(iter(workflows.values()))
