"""The tus 1.0 endpoint at ``/api/uploads/`` (SPEC §7): core, creation, termination and checksum.

Thin views over ``assets_app.services`` (``upload_create``, ``upload_append``,
``upload_status``, ``upload_terminate``): they read the tus headers, call one
service and turn ``UploadError`` into its tus status code with a JSON
``{"detail": …}`` body. Authentication is DRF's (token or session; session
requests need the CSRF token on POST/PATCH/DELETE). Every response carries
``Tus-Resumable: 1.0.0``; a request without it (other than OPTIONS) gets 412.
The PATCH body is never parsed by DRF: the service reads it in 1 MiB pieces
from the request stream. These views are left out of the OpenAPI schema: tus is
its own protocol (see the README).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.http import http_date
from rest_framework import exceptions, permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..services.upload_partials import upload_max_size
from ..services.uploads import CHECKSUM_ALGORITHMS

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,checksum"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"


class TusPreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = f"This server speaks tus {TUS_VERSION}: send the header Tus-Resumable: {TUS_VERSION}."


class TusPermission(permissions.BasePermission):
    """OPTIONS (protocol discovery) is open; everything else needs a signed-in user."""

    def has_permission(self, request, view) -> bool:
        return request.method == "OPTIONS" or bool(request.user and request.user.is_authenticated)


def _int_header(request, name: str, *, required: bool = True) -> int | None:
    raw = request.headers.get(name)
    if raw is None or raw == "":
        if required:
            raise services.UploadError(f"The header {name} is required.")
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise services.UploadError(f"{name} must be a non-negative whole number.")
    return int(raw)


def _upload_headers(response: HttpResponse, upload) -> HttpResponse:
    response["Upload-Offset"] = str(upload.offset if upload.asset_id is None else upload.length)
    response["Upload-Length"] = str(upload.length)
    if upload.asset_id is None:
        response["Upload-Expires"] = http_date(upload.expires_at.timestamp())
    else:
        outcome = services.upload_outcome(upload)
        response["MolExp-Asset-Id"] = str(outcome["asset_id"])
        response["MolExp-Asset-Version"] = str(outcome["version"])
        # "true": identical bytes were already stored under that name and scope; no new version.
        response["MolExp-Asset-Reused"] = "true" if outcome["reused"] else "false"
    return response


class TusView(APIView):
    """Shared protocol handling: Tus-Resumable check and header, OPTIONS, error mapping."""

    permission_classes = [TusPermission]
    schema = None  # tus is documented in the README, not in the OpenAPI schema

    def initial(self, request, *args, **kwargs):
        if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise TusPreconditionFailed()
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, services.UploadError):
            return Response({"detail": exc.message}, status=exc.status)
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        response["Cache-Control"] = "no-store"
        if response.status_code == 412:
            response["Tus-Version"] = TUS_VERSION
        if request.method == "HEAD" and response.status_code >= 400:
            response.content = b""
        return response

    def options(self, request, *args, **kwargs):
        response = HttpResponse(status=204)
        response["Tus-Version"] = TUS_VERSION
        response["Tus-Extension"] = TUS_EXTENSIONS
        response["Tus-Max-Size"] = str(upload_max_size())
        response["Tus-Checksum-Algorithm"] = ",".join(CHECKSUM_ALGORITHMS)
        return response


class UploadCreateView(TusView):
    """POST ``/api/uploads/`` with Upload-Length and Upload-Metadata → 201 and Location (tus creation)."""

    def post(self, request, *args, **kwargs):
        if request.headers.get("Upload-Defer-Length"):
            raise services.UploadError("Upload-Defer-Length is not supported; send Upload-Length.")
        length = _int_header(request, "Upload-Length")
        metadata = services.upload_metadata_parse(request.headers.get("Upload-Metadata"))
        upload = services.upload_create(user=request.user, length=length, metadata=metadata)
        response = HttpResponse(status=201)
        response["Location"] = reverse("tus-upload-detail", kwargs={"pk": upload.pk})
        return _upload_headers(response, upload)


class UploadDetailView(TusView):
    """HEAD (offset), PATCH (append a chunk) and DELETE (terminate) on ``/api/uploads/<uuid>/``."""

    def head(self, request, pk, *args, **kwargs):
        upload = services.upload_status(user=request.user, pk=pk)
        return _upload_headers(HttpResponse(status=200), upload)

    def patch(self, request, pk, *args, **kwargs):
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type != OFFSET_CONTENT_TYPE:
            raise services.UploadError(f"PATCH needs Content-Type: {OFFSET_CONTENT_TYPE}.", status=415)
        offset = _int_header(request, "Upload-Offset")
        django_request: HttpRequest = request._request
        content_length = _int_header(request, "Content-Length", required=False)
        if content_length is None:
            raise services.UploadError("PATCH needs a Content-Length.", status=411)
        upload = services.upload_append(
            user=request.user,
            pk=pk,
            offset=offset,
            stream=django_request,  # read in bounded pieces by the service, never parsed
            content_length=content_length,
            checksum=request.headers.get("Upload-Checksum"),
        )
        return _upload_headers(HttpResponse(status=204), upload)

    def delete(self, request, pk, *args, **kwargs):
        services.upload_terminate(user=request.user, pk=pk)
        return HttpResponse(status=204)


urlpatterns = [
    path("uploads/", UploadCreateView.as_view(), name="tus-upload"),
    path("uploads/<uuid:pk>/", UploadDetailView.as_view(), name="tus-upload-detail"),
]
