from django.urls import path

from . import edit_views, library_views, retention_views, upload_views, views

app_name = "assets"

urlpatterns = [
    path("catalog/", views.asset_list_view, name="asset-list"),
    path("assets/<int:pk>/", views.asset_detail, name="asset-detail"),
    path("assets/<int:pk>/download/", views.asset_download, name="asset-download"),
    path("assets/<int:pk>/edit/", edit_views.asset_edit_view, name="asset-edit"),
    path("assets/<int:pk>/alias/", edit_views.asset_alias_view, name="asset-alias"),
    path("assets/<int:pk>/delete/", edit_views.asset_delete_view, name="asset-delete"),
    path("uploads/new/", upload_views.upload_new, name="upload"),
    path("assets/runs/<int:run_pk>/inputs/", views.run_inputs, name="run-inputs"),
    path("assets/runs/<int:run_pk>/logs/", views.run_logs, name="run-logs"),
    path("assets/runs/<int:run_pk>/error/", views.run_error, name="run-error"),
    path("w/<slug:ws>/retention/", retention_views.workspace_retention, name="retention"),
    path("library/<slug:ws>/", library_views.library_workspace, name="library-workspace"),
    path("library/<slug:ws>/<slug:project>/", library_views.library_project, name="library-project"),
    path(
        "library/<slug:ws>/<slug:project>/<slug:experiment>/",
        library_views.library_experiment,
        name="library-experiment",
    ),
]
