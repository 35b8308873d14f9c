from django.urls import path

from . import views
from .views import audit as audit_views
from .views import charts as chart_views
from .views import crate as crate_views
from .views import editing as edit_views
from .views import fix as fix_views
from .views import runs_search
from .views import tokens as token_views
from .views import trash as trash_views
from .views import usage as usage_views

app_name = "runs"

_exp = "w/<slug:ws>/p/<slug:project>/e/<slug:experiment>/"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/live/", views.dashboard_live, name="dashboard-live"),
    path("w/new/", views.workspace_create, name="workspace-create"),
    path("w/<slug:ws>/", views.workspace_detail, name="workspace-detail"),
    path("w/<slug:ws>/edit/", edit_views.workspace_edit, name="workspace-edit"),
    path("w/<slug:ws>/members/", views.workspace_members, name="workspace-members"),
    path("w/<slug:ws>/activity/", views.workspace_activity, name="workspace-activity"),
    path("w/<slug:ws>/runs/", runs_search.workspace_runs, name="workspace-runs"),
    path("w/<slug:ws>/usage/", usage_views.workspace_usage, name="workspace-usage"),
    path("w/<slug:ws>/audit/", audit_views.workspace_audit, name="workspace-audit"),
    path("w/<slug:ws>/delete/", trash_views.workspace_delete, name="workspace-delete"),
    path("w/<slug:ws>/trash/", trash_views.workspace_trash, name="workspace-trash"),
    path("w/<slug:ws>/trash/<int:pk>/restore/", trash_views.trash_restore, name="trash-restore"),
    path("w/<slug:ws>/trash/<int:pk>/purge/", trash_views.trash_purge, name="trash-purge"),
    path("w/<slug:ws>/p/new/", views.project_create, name="project-create"),
    path("w/<slug:ws>/p/<slug:project>/", views.project_detail, name="project-detail"),
    path("w/<slug:ws>/p/<slug:project>/edit/", edit_views.project_edit, name="project-edit"),
    path("w/<slug:ws>/p/<slug:project>/delete/", trash_views.project_delete, name="project-delete"),
    path("w/<slug:ws>/p/<slug:project>/e/new/", views.experiment_create, name="experiment-create"),
    path(
        "w/<slug:ws>/p/<slug:project>/e/new/workflows/",
        views.experiment_workflow_offer,
        name="experiment-workflow-offer",
    ),  # fmt: skip
    path(_exp, views.experiment_detail, name="experiment-detail"),
    path(_exp + "columns/", views.experiment_columns, name="experiment-columns"),
    path(_exp + "charts/", chart_views.experiment_charts, name="experiment-charts"),
    path(_exp + "edit/", edit_views.experiment_edit, name="experiment-edit"),
    path(_exp + "delete/", trash_views.experiment_delete, name="experiment-delete"),
    path(_exp + "launch/", views.run_launch, name="run-launch"),
    path(_exp + "launch/preview/", views.run_launch_preview, name="run-launch-preview"),
    path(_exp + "runs/<int:number>/", views.run_detail, name="run-detail"),
    path(_exp + "runs/<int:number>/fix/", fix_views.run_fix, name="run-fix"),
    path("runs/<int:pk>/", views.run_by_id, name="run-by-id"),
    path("runs/<int:pk>/status/", views.run_status, name="run-status"),
    path("runs/<int:pk>/notes/", edit_views.run_notes, name="run-notes"),
    path("runs/<int:pk>/timeline/", views.run_timeline, name="run-timeline"),
    path("runs/<int:pk>/metrics/data/", views.run_metrics_data, name="run-metrics-data"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/delete/", trash_views.run_delete, name="run-delete"),
    path("runs/<int:pk>/rerun/", views.run_rerun, name="run-rerun"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run-resume"),
    path("runs/<int:pk>/clone/", views.run_clone, name="run-clone"),
    path("runs/<int:pk>/reproduce/", views.run_reproduce, name="run-reproduce"),
    path("runs/<int:pk>/reproduce/panel/", views.run_reproduce_panel, name="run-reproduce-panel"),
    path("runs/<int:pk>/how-to/", views.run_how_to, name="run-how-to"),
    path("compare/", views.run_compare, name="run-compare"),
    path("runs/<int:pk>/export/", crate_views.run_export, name="run-export"),
    path("w/<slug:ws>/import/", crate_views.crate_import_page, name="crate-import"),
    path("account/token/", views.api_token, name="api-token"),
    path("account/tokens/", token_views.scoped_tokens, name="scoped-tokens"),
    path("help/workflows/", views.help_workflows, name="help-workflows"),
    path("account/invitations/", views.invitation_list, name="invitation-list"),
]
