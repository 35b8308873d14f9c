"""Writes of runs_app: the only code that changes its rows, files and task dispatch.

``core`` holds workspaces, members, projects, experiments and the one status
transition function. The life of a run, in the order a launch meets it:
``discovery`` (workflow files and topologies), ``launch`` (plan, create runs),
``dispatch`` (the one function sending executions to the broker, with
``kombu_pipeline`` for Redis), ``execution`` and ``execution_outputs`` (the worker),
``control`` (clone, rerun, resume, cancel, terminate), ``maintenance`` (reaper,
reconciler), ``reproduce`` (reproductions and their verdicts), ``trash`` (delete into the trash, SPEC §14). ``limits`` checks
quotas, ``durability`` holds the relaxed commits. ``heartbeats`` (workers' and the
maintenance's signs of life) and ``ops`` (the checks of /healthz, the collector of
/metrics; imported by its view, not re-exported) serve the operator. Which action a run allows
(state, role, imported runs, provenance) is decided by ``runs_app.policy``. Callers import from ``runs_app.services``; see each module's docstring
for its invariants.
"""

from .control import execution_terminate, run_cancel, run_clone, run_rerun, run_resume
from .core import (
    experiment_create,
    invitation_accept,
    invitation_decline,
    membership_remove,
    membership_set,
    project_create,
    status_transition,
    token_get_or_create,
    token_regenerate,
    workflow_resolve,
    workspace_create,
)
from .discovery import workflow_inspect, workflow_list, workflow_names
from .dispatch import execution_dispatch
from .editing import experiment_update, experiment_workflow_names, project_update, workspace_update
from .execution import execution_run
from .heartbeats import heartbeat_prune, heartbeat_record, worker_heartbeat_start, worker_heartbeat_stop
from .launch import LaunchPlan, launch_plan, run_launch
from .maintenance import execution_reap_stale, execution_reconcile
from .reproduce import (
    reproduction_verdict_build,
    reproduction_verdict_compute,
    reproduction_verdict_get,
    run_input_pins,
    run_reproduce,
)
from .run_notes import run_annotate, run_tags_clean
from .run_table import run_table_columns_save
from .trash import object_delete, trash_expire, trash_purge, trash_restore
from .workspace_storage import workspace_quota_set

__all__ = [
    "experiment_update",
    "experiment_workflow_names",
    "project_update",
    "run_annotate",
    "run_tags_clean",
    "token_get_or_create",
    "workspace_update",
    "heartbeat_prune",
    "heartbeat_record",
    "worker_heartbeat_start",
    "worker_heartbeat_stop",
    "object_delete",
    "trash_expire",
    "trash_purge",
    "trash_restore",
    "run_table_columns_save",
    "workspace_quota_set",
    "LaunchPlan",
    "execution_dispatch",
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
    "workflow_names",
    "workflow_resolve",
    "workspace_create",
]
