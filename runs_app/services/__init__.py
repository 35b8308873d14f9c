"""Writes of runs_app: the only code that changes its rows, files and task dispatch.

``core`` holds workspaces, members, projects, experiments and the one status
transition function; ``runs`` holds launching, control (cancel, rerun, resume,
clone), the lost-execution reaper, the dispatch reconciler and execution in the
worker. Callers import from ``runs_app.services``; see each module's docstring
for its invariants.
"""

from .core import (
    experiment_create,
    invitation_accept,
    invitation_decline,
    membership_remove,
    membership_set,
    project_create,
    status_transition,
    token_regenerate,
    workflow_resolve,
    workspace_create,
)
from .reproduce import (
    reproduction_verdict_build,
    reproduction_verdict_compute,
    reproduction_verdict_get,
    run_input_pins,
    run_reproduce,
)
from .runs import (
    LaunchPlan,
    execution_reap_stale,
    execution_reconcile,
    execution_run,
    execution_terminate,
    launch_plan,
    run_cancel,
    run_clone,
    run_launch,
    run_rerun,
    run_resume,
    workflow_inspect,
    workflow_list,
)

__all__ = [
    "LaunchPlan",
    "execution_reap_stale",
    "execution_reconcile",
    "execution_run",
    "execution_terminate",
    "experiment_create",
    "invitation_accept",
    "invitation_decline",
    "launch_plan",
    "membership_remove",
    "membership_set",
    "project_create",
    "reproduction_verdict_build",
    "reproduction_verdict_compute",
    "reproduction_verdict_get",
    "run_cancel",
    "run_clone",
    "run_input_pins",
    "run_launch",
    "run_reproduce",
    "run_rerun",
    "run_resume",
    "status_transition",
    "token_regenerate",
    "workflow_inspect",
    "workflow_list",
    "workflow_resolve",
    "workspace_create",
]
