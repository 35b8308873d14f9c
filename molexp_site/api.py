"""DRF defaults for the whole API: the exception handler and pagination.

Every error leaves as JSON ``{"detail": …}`` with 400, 401, 403, 404 or 409.
Field errors are also given per field beside ``detail``. Services raise Django's
``ValidationError``/``PermissionDenied``, ``Http404`` or ``molexp_site.errors.Conflict``;
they are mapped here so no view translates them by hand.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
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
