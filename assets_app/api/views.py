"""The catalog REST API (read-only here): the scoped list with column filters, and the detail.

Both read through ``assets_app.selectors``, which scope to the caller's
workspaces, so an outsider gets 404 and never sees a row or a count.

Viewsets accept any path segment as an id (``lookup_value_regex``) so that a
malformed id reaches the selector and is a JSON 404, not an HTML one.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from molexp_site import keyset
from molexp_site.api import keyset_link

from ..filtersets import AssetFilterSet
from ..models import Asset
from ..search import SORTS, PageTooDeep, QueryError
from ..selectors import (
    asset_get,
    asset_list,
    asset_search,
    asset_search_page,
    trace_group_detail_list,
    trace_group_list,
)
from ..services import asset_edit, trash_put
from ..views import asset_file_response
from .serializers import (
    DETAIL_SERIALIZERS,
    AssetDetailSerializer,
    AssetSearchPageSerializer,
    AssetSerializer,
    AssetUpdateSerializer,
    QueryErrorSerializer,
    TraceGroupSerializer,
)

_ASSET_DETAIL = PolymorphicProxySerializer(
    component_name="AssetDetail",
    serializers={str(kind): serializer for kind, serializer in DETAIL_SERIALIZERS.items()},
    resource_type_field_name="kind",
)


_Q_PARAM = OpenApiParameter(
    "q",
    OpenApiTypes.STR,
    description="Catalog query: free words, key:value filters (kind scope workspace project experiment run task "
    'tag status name sha256 version after before config_hash alias), OR, -, parentheses, "phrases".',
)
_TRUE = ("1", "true", "yes", "on")


def _page_params(request: Request, paginator, *, cursor: str | None = None) -> tuple[int, int]:
    """``page`` (not a number ≥ 1: 404 "Invalid page.", like DRF; ignored beside a cursor) and
    ``page_size`` (bad: the default; clamped to the maximum, like DRF)."""
    raw = "1" if cursor else request.query_params.get("page") or "1"
    if not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
        raise exceptions.NotFound("Invalid page.")
    size = paginator.page_size
    raw_size = request.query_params.get("page_size") or ""
    if raw_size.isdigit() and len(raw_size) <= 9 and int(raw_size) >= 1:
        size = min(int(raw_size), paginator.max_page_size)
    return int(raw), size


@extend_schema_view(
    retrieve=extend_schema(responses=_ASSET_DETAIL),
    list=extend_schema(
        parameters=[
            _Q_PARAM,
            OpenApiParameter("sort", OpenApiTypes.STR, enum=list(SORTS), description="Default relevance."),
            OpenApiParameter("facets", OpenApiTypes.BOOL, description="Add facet counts (kind, project, status)."),
            OpenApiParameter(
                "cursor", OpenApiTypes.STR, description="Opaque position from a `next`/`previous` link (unranked)."
            ),
            OpenApiParameter("page", OpenApiTypes.INT, description="Page number (ranked results, shallow pages)."),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: AssetSearchPageSerializer, 400: QueryErrorSerializer},
    ),
)
class AssetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The asset catalog across the caller's workspaces (staff: all)."""

    queryset = Asset.objects.none()
    lookup_value_regex = "[^/]+"
    serializer_class = AssetSerializer
    filterset_class = AssetFilterSet

    def get_queryset(self) -> QuerySet[Asset]:
        return asset_list(user=self.request.user)

    @extend_schema(responses={204: None}, description="Moves the asset version into the trash (owners; SPEC §14).")
    def destroy(self, request: Request, pk: str) -> Response:
        trash_put(user=request.user, obj=asset_get(user=request.user, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def perform_content_negotiation(self, request, force=False):
        # The bytes are a Django response whatever the client accepts; only errors are rendered,
        # and always as JSON (never 406 for a client that asks for application/octet-stream).
        return super().perform_content_negotiation(request, force=force or self.action == "content")

    @extend_schema(
        summary="The asset's bytes",
        description=(
            "Streams the file as an attachment (`X-Content-Type-Options: nosniff`, "
            "`Content-Security-Policy: sandbox`); one `Range: bytes=…` gives 206, an unsatisfiable one 416."
        ),
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description='`{"detail": "No such asset."}` — also for assets of other workspaces'),
        },
    )
    @action(detail=True, methods=["get"], url_path="content", renderer_classes=[renderers.JSONRenderer])
    def content(self, request: Request, pk: str | None = None):
        """The same response as the download page (one code path: ``assets_app.views.asset_file_response``)."""
        return asset_file_response(request._request, asset_get(user=request.user, pk=pk))

    def list(self, request: Request) -> Response:
        """The catalog search: ``q`` plus the column filters, scoped to the caller, capped counts.

        Browsing (no free words, or a sort other than relevance) is keyset-paginated: ``next`` and
        ``previous`` carry ``?cursor=``. Ranked results keep page-number links (bounded by the engine).
        """
        params = request.query_params
        sort = params.get("sort") or "relevance"
        if sort not in SORTS:
            raise exceptions.ValidationError({"sort": [f"One of {', '.join(SORTS)}."]})
        cursor = params.get("cursor") or None
        number, size = _page_params(request, self.paginator, cursor=cursor)
        try:
            search = asset_search(user=request.user, q=params.get("q", ""), filters=params, sort=sort, rows="api")
        except QueryError as exc:
            return Response(exc.as_dict(), status=400)
        try:
            page = asset_search_page(search=search, page=number, page_size=size, cursor=cursor)
        except (PageTooDeep, keyset.PageTooDeep) as exc:
            raise exceptions.NotFound(str(exc)) from None
        url = request.build_absolute_uri()
        if isinstance(page, keyset.KeysetPage):
            next_link, previous_link = keyset_link(url, page.next_cursor), keyset_link(url, page.previous_cursor)
        else:
            if number > 1 and not page.rows:
                raise exceptions.NotFound("Invalid page.")
            next_link = replace_query_param(url, "page", number + 1) if page.has_next else None
            previous_link = (
                None
                if number == 1
                else remove_query_param(url, "page")
                if number == 2
                else replace_query_param(url, "page", number - 1)
            )
        data = {
            "count": page.count,
            "count_capped": page.count_capped,
            "next": next_link,
            "previous": previous_link,
            "sort": page.sort,
            "ranked": page.ranked,
            "results": AssetSerializer(page.rows, many=True).data,
        }
        if (params.get("facets") or "").lower() in _TRUE:
            data["facets"] = search.facets()
        return Response(data)

    def retrieve(self, request: Request, pk: str) -> Response:
        asset = asset_get(user=request.user, pk=pk)
        serializer = DETAIL_SERIALIZERS.get(asset.kind, AssetDetailSerializer)
        return Response(serializer(asset).data)

    @extend_schema(request=AssetUpdateSerializer, responses={200: _ASSET_DETAIL})
    def partial_update(self, request: Request, pk: str) -> Response:
        """SPEC §14: replace the tags and/or the description (editors and owners)."""
        asset = asset_get(user=request.user, pk=pk)
        body = AssetUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        asset = asset_edit(user=request.user, asset=asset, **body.validated_data)
        return Response(DETAIL_SERIALIZERS.get(asset.kind, AssetDetailSerializer)(asset).data)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            _Q_PARAM,
            OpenApiParameter("workspace", OpenApiTypes.INT),
            OpenApiParameter("project", OpenApiTypes.INT),
            OpenApiParameter("experiment", OpenApiTypes.INT),
            OpenApiParameter("run", OpenApiTypes.INT),
        ],
        responses={200: TraceGroupSerializer(many=True), 400: QueryErrorSerializer},
    )
)
class TraceGroupViewSet(viewsets.GenericViewSet):
    """Error traces grouped by fingerprint (the same failure across runs), most recently seen first."""

    queryset = Asset.objects.none()
    serializer_class = TraceGroupSerializer
    filter_backends: list = []

    def list(self, request: Request) -> Response:
        params = request.query_params
        filters = {k: params.get(k) for k in ("workspace", "project", "experiment", "run") if params.get(k)}
        q = params.get("q", "")
        try:
            groups = trace_group_list(user=request.user, filters=filters, q=q)
        except QueryError as exc:
            return Response(exc.as_dict(), status=400)
        page = self.paginate_queryset(groups)
        rows = trace_group_detail_list(user=request.user, groups=page, filters=filters, q=q)
        return self.get_paginated_response(TraceGroupSerializer(rows, many=True).data)
