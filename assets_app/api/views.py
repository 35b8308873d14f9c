"""The catalog REST API (read-only here): the scoped list with column filters, and the detail.

Both read through ``assets_app.selectors``, which scope to the caller's
workspaces, so an outsider gets 404 and never sees a row or a count.

Viewsets accept any path segment as an id (``lookup_value_regex``) so that a
malformed id reaches the selector and is a JSON 404, not an HTML one.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from ..filtersets import AssetFilterSet
from ..models import Asset
from ..selectors import asset_get, asset_list
from .serializers import DETAIL_SERIALIZERS, AssetDetailSerializer, AssetSerializer

_ASSET_DETAIL = PolymorphicProxySerializer(
    component_name="AssetDetail",
    serializers={str(kind): serializer for kind, serializer in DETAIL_SERIALIZERS.items()},
    resource_type_field_name="kind",
)


@extend_schema_view(retrieve=extend_schema(responses=_ASSET_DETAIL))
class AssetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The asset catalog across the caller's workspaces (staff: all)."""

    queryset = Asset.objects.none()
    lookup_value_regex = "[^/]+"
    serializer_class = AssetSerializer
    filterset_class = AssetFilterSet

    def get_queryset(self) -> QuerySet[Asset]:
        return asset_list(user=self.request.user)

    def retrieve(self, request: Request, pk: str) -> Response:
        asset = asset_get(user=request.user, pk=pk)
        serializer = DETAIL_SERIALIZERS.get(asset.kind, AssetDetailSerializer)
        return Response(serializer(asset).data)
