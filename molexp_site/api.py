"""DRF defaults for the whole API: the exception handler, pagination, the filter backend and the JSON 404.

Every error leaves as JSON ``{"detail": …}`` with 400, 401, 403, 404 or 409.
Field errors are also given per field beside ``detail``. Services raise Django's
``ValidationError``/``PermissionDenied``, ``Http404`` or ``molexp_site.errors.Conflict``;
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
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict


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
