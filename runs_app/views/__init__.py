"""HTML views of runs_app, one module per area; ``urls.py`` refers to them as ``views.<name>``."""

from .account import api_token
from .activity import workspace_activity
from .compare import run_compare
from .experiments import (
    experiment_columns,
    experiment_create,
    experiment_detail,
    experiment_workflow_offer,
    project_create,
    project_detail,
)
from .help import help_workflows
from .invitations import invitation_list
from .launch import run_launch, run_launch_preview
from .reproduce import run_how_to, run_reproduce, run_reproduce_panel
from .runs import (
    run_by_id,
    run_cancel,
    run_clone,
    run_detail,
    run_metrics_data,
    run_rerun,
    run_resume,
    run_status,
    run_timeline,
)
from .workspaces import dashboard, dashboard_live, workspace_create, workspace_detail, workspace_members

__all__ = [
    "api_token",
    "invitation_list",
    "dashboard",
    "dashboard_live",
    "experiment_create",
    "experiment_columns",
    "experiment_detail",
    "experiment_workflow_offer",
    "help_workflows",
    "project_create",
    "project_detail",
    "run_by_id",
    "run_cancel",
    "run_clone",
    "run_compare",
    "run_detail",
    "run_how_to",
    "run_launch",
    "run_launch_preview",
    "run_metrics_data",
    "run_reproduce",
    "run_reproduce_panel",
    "run_rerun",
    "run_resume",
    "run_status",
    "run_timeline",
    "workspace_activity",
    "workspace_create",
    "workspace_detail",
    "workspace_members",
]
