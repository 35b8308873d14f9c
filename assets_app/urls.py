from django.urls import path

from . import views

app_name = "assets"

urlpatterns = [
    path("catalog/", views.asset_list_view, name="asset-list"),
    path("assets/<int:pk>/", views.asset_detail, name="asset-detail"),
]
