"""API routes of assets_app, mounted under /api/ by ``molexp_site.urls``."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views
from .aliases import AssetAliasView
from .lineage import AssetLineageView

router = SimpleRouter(trailing_slash=True)
router.register("assets", views.AssetViewSet, basename="asset")
router.register("traces", views.TraceGroupViewSet, basename="trace")

urlpatterns = [
    path("assets/<str:pk>/lineage/", AssetLineageView.as_view(), name="asset-lineage"),
    path("assets/<str:pk>/alias/", AssetAliasView.as_view(), name="asset-alias"),
    path("", include(router.urls)),
    path("", include("assets_app.api.uploads")),  # tus 1.0 at uploads/
]
