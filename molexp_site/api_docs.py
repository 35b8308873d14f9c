"""The OpenAPI schema (``/api/schema/``) and its Swagger UI page (``/api/docs/``).

Both require sign-in (session or token) unless ``MOLEXP_API_DOCS_PUBLIC`` is on (issue 12,
finding 8): the schema names every endpoint and field, which is nothing a stranger needs.
The setting is read per request. The docs page loads its settings script by URL (the split
view), so the page needs no inline script under the Content-Security-Policy.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated


def _docs_permissions() -> list[BasePermission]:
    return [AllowAny()] if getattr(settings, "MOLEXP_API_DOCS_PUBLIC", False) else [IsAuthenticated()]


class SchemaView(SpectacularAPIView):
    """The OpenAPI document; 401 for an anonymous caller unless the docs are public."""

    def get_permissions(self) -> list[BasePermission]:
        return _docs_permissions()


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI over the schema; 401 for an anonymous caller unless the docs are public."""

    template_name = "api_docs/swagger_ui.html"

    def get_permissions(self) -> list[BasePermission]:
        return _docs_permissions()
