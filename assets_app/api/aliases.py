"""``POST /api/assets/{id}/alias/ {"alias": "paper"}`` (SPEC §14): set an alias on this version or move it here.

Editors and owners (``PermissionDenied`` → 403 for viewers); ``Http404`` for assets the
caller cannot see. One service call: ``assets_app.services.asset_alias_set``.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..selectors import asset_get
from ..services import asset_alias_set
from .serializers import AssetAliasSerializer, AssetAliasSetSerializer


class AssetAliasView(APIView):
    """Point a named alias at this asset version (creating it, or moving it from another version)."""

    @extend_schema(
        parameters=[OpenApiParameter("pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Asset id.")],
        request=AssetAliasSetSerializer,
        responses={200: AssetAliasSerializer},
    )
    def post(self, request: Request, pk: str) -> Response:
        asset = asset_get(user=request.user, pk=pk)
        body = AssetAliasSetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row, previous = asset_alias_set(user=request.user, asset=asset, alias=body.validated_data["alias"])
        row.previous_asset = previous
        return Response(AssetAliasSerializer(row).data)
