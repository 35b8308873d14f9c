"""API routes of assets_app, mounted under /api/ by ``molexp_site.urls``."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views
from .aliases import AssetAliasView
from .lineage import AssetLineageView
from .retention import WorkspaceRetentionPreviewView, WorkspaceRetentionView

router = SimpleRouter(trailing_slash=True)
router.register("assets", views.AssetViewSet, basename="asset")
router.register("traces", views.TraceGroupViewSet, basename="trace")

urlpatterns = [
    path("assets/<str:pk>/lineage/", AssetLineageView.as_view(), name="asset-lineage"),
    path("assets/<str:pk>/alias/", AssetAliasView.as_view(), name="asset-alias"),
    path("workspaces/<str:workspace_pk>/retention/", WorkspaceRetentionView.as_view(), name="workspace-retention"),
    path(
        "workspaces/<str:workspace_pk>/retention/preview/",
        WorkspaceRetentionPreviewView.as_view(),
        name="workspace-retention-preview",
    ),
    path("", include(router.urls)),
    path("", include("assets_app.api.uploads")),  # tus 1.0 at uploads/
]
