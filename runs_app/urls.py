from django.urls import path

from . import views

app_name = "runs"

_exp = "w/<slug:ws>/p/<slug:project>/e/<slug:experiment>/"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("w/new/", views.workspace_create, name="workspace-create"),
    path("w/<slug:ws>/", views.workspace_detail, name="workspace-detail"),
    path("w/<slug:ws>/members/", views.workspace_members, name="workspace-members"),
    path("w/<slug:ws>/p/new/", views.project_create, name="project-create"),
    path("w/<slug:ws>/p/<slug:project>/", views.project_detail, name="project-detail"),
    path("w/<slug:ws>/p/<slug:project>/e/new/", views.experiment_create, name="experiment-create"),
    path(_exp, views.experiment_detail, name="experiment-detail"),
    path(_exp + "runs/<int:number>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/", views.run_by_id, name="run-by-id"),
    path("runs/<int:pk>/status/", views.run_status, name="run-status"),
    path("account/token/", views.api_token, name="api-token"),
]
