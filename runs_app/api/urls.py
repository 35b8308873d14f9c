"""API routes of runs_app, mounted under /api/ by ``molexp_site.urls``."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import charts, compare, external, invitations, tokens, views
from .audit import AuditEventListView
from .crate import RunExportView, WorkspaceImportView
from .reproduce import RunReproduceView, RunVerdictView
from .trash import TrashViewSet
from .workspace_storage import WorkspaceUsageView

router = SimpleRouter(trailing_slash=True)
router.register("workspaces", views.WorkspaceViewSet, basename="workspace")
router.register("projects", views.ProjectViewSet, basename="project")
router.register("experiments", views.ExperimentViewSet, basename="experiment")
router.register("runs", views.RunViewSet, basename="run")
router.register("trash", TrashViewSet, basename="trash")

members = views.MembershipViewSet.as_view({"get": "list", "post": "create"})
member = views.MembershipViewSet.as_view({"delete": "destroy"})

urlpatterns = [
    path("auth/token/", views.TokenCreateView.as_view(), name="api-token"),
    path("workflows/", views.WorkflowListView.as_view(), name="workflow-list"),
    path("workspaces/<str:workspace_pk>/members/", members, name="workspace-members"),
    path("workspaces/<str:workspace_pk>/members/<str:username>/", member, name="workspace-member"),
    path(
        "workspaces/<str:workspace_pk>/invitations/",
        invitations.WorkspaceInvitationListView.as_view(),
        name="workspace-invitations",
    ),
    path("invitations/", invitations.InvitationListView.as_view(), name="invitation-list"),
    path("invitations/accept/", invitations.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("invitations/decline/", invitations.InvitationDeclineView.as_view(), name="invitation-decline"),
    path("runs/<str:pk>/reproduce/", RunReproduceView.as_view(), name="run-reproduce"),
    path("runs/<str:pk>/verdict/", RunVerdictView.as_view(), name="run-verdict"),
    path("runs/series/", charts.RunSeriesView.as_view(), name="run-series"),
    path("runs/compare/", compare.RunCompareView.as_view(), name="run-compare"),
    path("runs/<str:pk>/fix/", compare.RunFixView.as_view(), name="run-fix"),
    path("workspaces/<str:workspace_pk>/activity/", compare.WorkspaceActivityView.as_view(), name="workspace-activity"),
    path("runs/<str:pk>/export/", RunExportView.as_view(), name="run-export"),
    path("workspaces/<str:workspace_pk>/import/", WorkspaceImportView.as_view(), name="workspace-import"),
    path("auth/whoami/", tokens.WhoAmIView.as_view(), name="api-whoami"),
    path("tokens/", tokens.ScopedTokenListView.as_view(), name="scoped-token-list"),
    path("tokens/<str:pk>/", tokens.ScopedTokenDetailView.as_view(), name="scoped-token-detail"),
    path("external/runs/", external.ExternalRunCreateView.as_view(), name="external-run-create"),
    path("external/runs/<str:pk>/heartbeat/", external.ExternalHeartbeatView.as_view(), name="external-heartbeat"),
    path("external/runs/<str:pk>/logs/", external.ExternalLogsView.as_view(), name="external-logs"),
    path("external/runs/<str:pk>/metrics/", external.ExternalMetricsView.as_view(), name="external-metrics"),
    path("external/runs/<str:pk>/results/", external.ExternalResultsView.as_view(), name="external-results"),
    path("external/runs/<str:pk>/checkpoints/", external.ExternalCheckpointView.as_view(), name="external-checkpoints"),
    path("external/runs/<str:pk>/inputs/", external.ExternalInputView.as_view(), name="external-inputs"),
    path("external/runs/<str:pk>/finish/", external.ExternalFinishView.as_view(), name="external-finish"),
    path("audit/", AuditEventListView.as_view(), name="audit-list"),
    path("workspaces/<str:workspace_pk>/usage/", WorkspaceUsageView.as_view(), name="workspace-usage"),
    path("", include(router.urls)),
]
