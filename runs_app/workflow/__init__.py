"""The workflow authoring API, engine and RunContext (SPEC §4, §6).

Import what workflow files need from here::

    from runs_app.workflow import Workflow, shell, csv_text

This package imports no Django request objects and no Celery; the RunContext
(``runs_app.workflow.context``) is imported only by the worker.
"""

from .authoring import Parameter, TaskSpec, Workflow
from .errors import (
    AssetNotFound,
    MapTaskFailed,
    MissingTaskInput,
    QuotaExceeded,
    RunCancelled,
    ShellCommandFailed,
    ShellCommandTimedOut,
    WorkflowError,
)
from .shell import ShellResult, shell
from .tabular import csv_text

__all__ = [
    "AssetNotFound",
    "MapTaskFailed",
    "MissingTaskInput",
    "Parameter",
    "QuotaExceeded",
    "RunCancelled",
    "ShellCommandFailed",
    "ShellCommandTimedOut",
    "ShellResult",
    "TaskSpec",
    "Workflow",
    "WorkflowError",
    "csv_text",
    "shell",
]
