"""Test-only URLconf: the project's URLs plus views that fail on purpose (no secrets in error pages or logs)."""

from django.urls import include, path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny


def boom(request):
    password = "local-password-in-a-frame"  # noqa: F841 — a local that a traceback page would show
    api_key = request.GET.get("key", "")  # noqa: F841
    raise RuntimeError("the page exploded on purpose")


@api_view(["GET", "POST"])
@permission_classes([AllowAny])
def api_boom(request):
    token = request.data.get("token", "") if hasattr(request.data, "get") else ""  # noqa: F841
    raise RuntimeError("the API exploded on purpose")


urlpatterns = [
    path("test-only/boom/", boom),
    path("api/test-only/boom/", api_boom),
    path("", include("molexp_site.urls")),
]
