"""DRF defaults for the whole API: the exception handler, pagination, the filter backend and the JSON 404.

Every error leaves as JSON ``{"detail": …}`` with 400, 401, 403, 404, 409 or 429.
Field errors are also given per field beside ``detail``. Services raise Django's
``ValidationError``/``PermissionDenied``, ``Http404``, ``molexp_site.errors.Conflict`` or ``TooManyRequests``;
they are mapped here so no view translates them by hand.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django_filters import utils as filter_utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, pagination, status
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict, TooManyRequests
from .keyset import COUNT_CAP, KeysetPage, PageTooDeep, keyset_page, offset_page


def _flatten(detail: Any) -> str:
    if isinstance(detail, dict):
        parts = []
        for key, value in detail.items():
            text = _flatten(value)
            parts.append(text if key in ("non_field_errors", "__all__", "detail") else f"{key}: {text}")
        return "; ".join(parts)
    if isinstance(detail, (list, tuple)):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, Conflict):
        return Response({"detail": exc.message}, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, TooManyRequests):
        return Response({"detail": exc.message}, status=status.HTTP_429_TOO_MANY_REQUESTS)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        body: dict[str, Any] = {"detail": _flatten(data)}
        if isinstance(data, dict):
            body.update({k: v for k, v in data.items() if k != "detail"})
        response.data = body
    elif not (isinstance(data, dict) and "detail" in data):
        response.data = {"detail": _flatten(data)}
    return response


class PageNumberPagination(pagination.PageNumberPagination):
    """Page-number pagination (``count``, ``next``, ``previous``, ``results``) with a bounded page size."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def keyset_link(url: str, cursor: str | None) -> str | None:
    """``url`` positioned at ``cursor`` (its ``page`` dropped), or ``None`` when there is no such page."""
    if cursor is None:
        return None
    return replace_query_param(remove_query_param(url, "page"), "cursor", cursor)


class KeysetPagination(pagination.BasePagination):
    """Keyset pagination for big lists (runs), keeping the SPEC's page shape.

    The body is ``count`` (capped at ``COUNT_CAP``), ``count_capped``, ``next``, ``previous``
    and ``results``; ``next``/``previous`` are links carrying an opaque ``?cursor=`` so that
    following them is a seek at any depth (``molexp_site.keyset``). ``?page=N`` still works for
    the first ``MAX_OFFSET`` rows (404 "Invalid page." past the end or deeper). A malformed
    cursor is a 400 ``{"detail": …, "cursor": […]}``. The view names its order in
    ``keyset_ordering`` (its last term must be unique).
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    cursor_query_param = "cursor"
    page_query_param = "page"
    ordering: tuple[str, ...] = ("-created_at", "-id")

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param) or ""
        if raw.isdigit() and len(raw) <= 9 and int(raw) >= 1:
            return min(int(raw), self.max_page_size)
        return self.page_size

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        params = request.query_params
        cursor = params.get(self.cursor_query_param) or None
        number = 1
        if cursor is None:
            raw = params.get(self.page_query_param) or "1"
            if not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
                raise exceptions.NotFound("Invalid page.")
            number = int(raw)
        ordering = getattr(view, "keyset_ordering", None) or self.ordering
        try:
            self.page = keyset_page(
                queryset, ordering=ordering, page_size=self.get_page_size(request), cursor=cursor, page=number
            )
        except PageTooDeep as exc:
            raise exceptions.NotFound(str(exc)) from None
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None
        return self.page.rows

    def _link(self, cursor: str | None) -> str | None:
        return keyset_link(self.request.build_absolute_uri(), cursor)

    def get_paginated_response(self, data) -> Response:
        page: KeysetPage = self.page
        return Response(
            {
                "count": page.count,
                "count_capped": page.count_capped,
                "next": self._link(page.next_cursor),
                "previous": self._link(page.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["count", "count_capped", "results"],
            "properties": {
                "count": {"type": "integer", "description": f"Matching rows, counted up to {COUNT_CAP}."},
                "count_capped": {"type": "boolean", "description": f"True when more than {COUNT_CAP} rows match."},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "Page number, for shallow pages only; follow `next` for deeper ones.",
                "schema": {"type": "integer"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page (at most {self.max_page_size}).",
                "schema": {"type": "integer"},
            },
        ]


class SortedPagination(KeysetPagination):
    """Numbered pages of a list already ordered by a column no index serves (``?sort=``, SPEC §15).

    Same body as ``KeysetPagination``; ``next``/``previous`` carry ``?page=N`` (OFFSET, at most
    ``MAX_OFFSET`` rows deep; 404 "Invalid page." past it).
    """

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        raw = request.query_params.get(self.page_query_param) or "1"
        if not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
            raise exceptions.NotFound("Invalid page.")
        try:
            self.page = offset_page(queryset, page_size=self.get_page_size(request), page=int(raw))
        except PageTooDeep as exc:
            raise exceptions.NotFound(str(exc)) from None
        return self.page.rows

    def _page_link(self, number: int | None) -> str | None:
        if number is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.cursor_query_param)
        return replace_query_param(url, self.page_query_param, number)

    def get_paginated_response(self, data) -> Response:
        page = self.page
        return Response(
            {
                "count": page.count,
                "count_capped": page.count_capped,
                "next": self._page_link(page.next_page),
                "previous": self._page_link(page.previous_page),
                "results": data,
            }
        )


#: Range of a signed 64-bit key: larger values overflow SQLite's INTEGER.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _is_integer_column(filterset, name: str) -> bool:
    field_name = filterset.filters[name].field_name
    try:
        field = filterset.queryset.model._meta.get_field(field_name)
    except FieldDoesNotExist:
        return False
    if field.is_relation:
        field = field.target_field
    return isinstance(field, models.IntegerField)


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend that also refuses number filters on integer columns that are not integers.

    ``NumberFilter`` parses decimals: on an id column ``1.5`` would silently be
    truncated to 1, and a 23-digit value overflows SQLite. Both are a 400 field
    error instead of a wrong answer or a 500.
    """

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise filter_utils.translate_validation(filterset.errors)
        errors = {
            name: ["Enter a whole number in range."]
            for name, value in filterset.form.cleaned_data.items()
            if isinstance(value, Decimal)
            and _is_integer_column(filterset, name)
            and not (value == value.to_integral_value() and _INT_MIN <= value <= _INT_MAX)
        }
        if errors:
            raise exceptions.ValidationError(errors)
        return filterset.qs


def not_found(request: HttpRequest, unmatched: str = "") -> HttpResponse:
    """JSON 404 for any path under /api/ that no endpoint matches (instead of Django's HTML page).

    A plain Django view (no authentication): an unknown path is a 404 for everyone.
    A GET without its trailing slash is redirected like ``CommonMiddleware`` would,
    since this catch-all keeps the middleware from seeing a 404.
    """
    path = request.path_info
    if settings.APPEND_SLASH and not path.endswith("/") and request.method in ("GET", "HEAD"):
        try:
            match = resolve(path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return JsonResponse({"detail": "Not found."}, status=404)
