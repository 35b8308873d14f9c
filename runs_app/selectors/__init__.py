"""Reads of runs_app, scoped to what a user may see: one module per concept.

Invariants (each module states its own as well):
- Every selector that takes ``user`` returns only rows of workspaces the user is a member of
  (staff see all), through ``runs_app.access``. Pages, the API and commands share these
  functions, so scoping cannot drift between them.
- A row the user may not see is ``Http404`` (never 403), so an outsider cannot learn it exists.
- List selectors return querysets shaped for their page (``select_related``, ``only``) so that a
  page costs a constant number of queries.
- Reads only: nothing here writes a row, a file or dispatches a task; input parsing lives in
  ``runs_app.forms`` (pages and API alike).

Modules: ``workspaces`` (workspaces, members, invitations, projects, experiments), ``runs`` (run
lists and lookups), ``executions`` (attempts and the status history), ``metrics`` (latest points
and downsampled series), ``workflows`` (workflow files on the server), ``sources`` (source diffs),
``compare`` (run comparison), ``fix`` (from a failure to the run that fixed it), ``activity`` (the workspace feed), ``launch`` (the launch preview).
Callers import this package (``from runs_app import selectors``); it re-exports every public name.
"""

# The access rules and the scoped lookups live in ``runs_app.access`` (the bottom of the import graph).
from ..access import (
    User,
    _is_staff,
    experiment_get,
    experiment_list,
    project_get,
    project_list,
    role_at_least,
    run_get,
    scope_to_user,
    visible_workspace_ids,
    workspace_get,
    workspace_require_role,
    workspace_role,
    workspaces_with_role_at_least,
)
from .activity import ACTIVITY_PAGE_SIZE, activity_cursor_decode, activity_cursor_encode, workspace_activity
from .charts import (
    CHART_DEFAULT_POINTS,
    CHART_MAX_RUNS,
    CHART_POINTS_LIMIT,
    chart_data,
    chart_metric_keys,
    chart_runs,
    chart_series,
    chart_series_cached,
)
from .compare import COMPARE_CHART_POINTS, COMPARE_MAX_RUNS, run_compare, run_compare_query, run_refs_resolve
from .executions import (
    RunEventPage,
    execution_latest,
    execution_list,
    execution_queue_position,
    execution_stale_list,
    run_event_list,
    run_event_page,
)
from .fix import FIX_SECTIONS, run_failure_fix, run_fix_find
from .launch import PREVIEW_EXISTING_RUNS, launch_preview, launch_preview_cells
from .metrics import (
    METRIC_SERIES_MAX_POINTS,
    metric_latest_by_run,
    metric_latest_list,
    metric_points_xy,
    metric_series,
    metric_series_for_runs,
)
from .run_table import RunTable, run_table_build, run_table_hidden_get, run_table_texts, value_display
from .runs import (
    RUN_LIST_FIELDS,
    RUN_LIST_ORDERING,
    dashboard_recent_failures,
    dashboard_running,
    run_get_by_number,
    run_get_by_path,
    run_list,
    run_list_by_config_hash,
    run_list_reproductions,
    run_list_same_config,
    run_list_with_executions,
    run_queued_counts,
)
from .sources import code_diff, run_source_diff
from .trash import TRASH_ORDERING, trash_entry_get, trash_list, trash_workspace_get
from .workflows import (
    path_in_server_data,
    server_data_dirs,
    workflow_file_list,
    workflow_part_is_hidden,
    workflow_path_is_server_file,
    workflow_resolve,
)
from .workspaces import (
    api_token_get,
    experiment_get_by_path,
    invitation_list,
    invitation_list_for_user,
    membership_list,
    workspace_list,
    workspace_list_with_role,
)

__all__ = [
    "CHART_DEFAULT_POINTS",
    "CHART_MAX_RUNS",
    "CHART_POINTS_LIMIT",
    "chart_data",
    "chart_metric_keys",
    "chart_runs",
    "chart_series",
    "chart_series_cached",
    "run_compare_query",
    "run_refs_resolve",
    "FIX_SECTIONS",
    "run_failure_fix",
    "run_fix_find",
    "TRASH_ORDERING",
    "trash_entry_get",
    "trash_list",
    "trash_workspace_get",
    "RunTable",
    "run_table_build",
    "run_table_texts",
    "run_table_hidden_get",
    "value_display",
    "_is_staff",
    "role_at_least",
    "workspaces_with_role_at_least",
    "ACTIVITY_PAGE_SIZE",
    "COMPARE_CHART_POINTS",
    "COMPARE_MAX_RUNS",
    "METRIC_SERIES_MAX_POINTS",
    "PREVIEW_EXISTING_RUNS",
    "RUN_LIST_FIELDS",
    "RUN_LIST_ORDERING",
    "RunEventPage",
    "User",
    "activity_cursor_decode",
    "activity_cursor_encode",
    "api_token_get",
    "code_diff",
    "dashboard_recent_failures",
    "dashboard_running",
    "execution_latest",
    "execution_list",
    "execution_queue_position",
    "execution_stale_list",
    "experiment_get",
    "experiment_get_by_path",
    "experiment_list",
    "invitation_list",
    "invitation_list_for_user",
    "launch_preview",
    "launch_preview_cells",
    "membership_list",
    "metric_latest_by_run",
    "metric_latest_list",
    "metric_points_xy",
    "metric_series",
    "metric_series_for_runs",
    "path_in_server_data",
    "project_get",
    "project_list",
    "run_compare",
    "run_event_list",
    "run_event_page",
    "run_get",
    "run_get_by_number",
    "run_get_by_path",
    "run_list",
    "run_list_by_config_hash",
    "run_list_reproductions",
    "run_list_same_config",
    "run_list_with_executions",
    "run_queued_counts",
    "run_source_diff",
    "scope_to_user",
    "server_data_dirs",
    "visible_workspace_ids",
    "workflow_file_list",
    "workflow_path_is_server_file",
    "workflow_resolve",
    "workflow_part_is_hidden",
    "workspace_activity",
    "workspace_get",
    "workspace_list",
    "workspace_list_with_role",
    "workspace_require_role",
    "workspace_role",
]
