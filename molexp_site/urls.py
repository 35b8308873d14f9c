"""Root URLs: pages of both apps, accounts, the API under /api/, and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from runs_app.views.ops import healthz, metrics

from .api import not_found
from .api_docs import SchemaView, SwaggerView
from .throttle import ThrottledAdminAuthenticationForm, ThrottledLoginView

# The admin's own login page shows the sign-in throttle's refusal like the login page does.
admin.site.login_form = ThrottledAdminAuthenticationForm

api_patterns = [
    path("", include("runs_app.api.urls")),
    path("", include("assets_app.api.urls")),
    # Sign-in required unless MOLEXP_API_DOCS_PUBLIC (api_docs.py).
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: any other path under /api/ is a JSON 404, not the HTML page.
    re_path(r"^(?P<unmatched>.*)$", not_found, name="api-not-found"),
]

urlpatterns = [
    # Monitoring (docs/operations.md): no sign-in for /healthz; /metrics by token or from loopback.
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    # Failed sign-ins are counted per (username, client) and per client: 429 past the limit (throttle.py).
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("", include("assets_app.urls")),
    path("", include("runs_app.urls")),
]
