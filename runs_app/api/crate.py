"""API of portable runs: ``GET /api/runs/{id}/export/`` (zip) and ``POST /api/workspaces/{id}/import/``.

Thin adapters over ``runs_app.crate.crate_export``/``crate_import``; errors
are mapped by ``molexp_site.api.exception_handler`` (400 refused crate, 403
viewer, 404 non-member).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..choices import Role
from ..crate import crate_import
from ..views.crate import crate_response


class RunExportView(APIView):
    """The run as an RO-Crate zip attachment (any member who can read the run)."""

    @extend_schema(
        parameters=[OpenApiParameter("inputs", str, enum=["include", "reference"], description="input bytes or refs")],
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, pk: str):
        run = selectors.run_get(user=request.user, pk=pk)
        return crate_response(
            user=request.user,
            run=run,
            inputs=request.query_params.get("inputs", "include"),
            source_url=request.build_absolute_uri(run.get_absolute_url()),
        )


class WorkspaceImportView(APIView):
    """Import a run crate (multipart ``file``, optional ``project`` id) into the workspace (editor or owner)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"},
                                                                          "project": {"type": "integer"}}}},
        responses={201: OpenApiTypes.OBJECT},
    )  # fmt: skip
    def post(self, request: Request, workspace_pk: str) -> Response:
        workspace = selectors.workspace_get(user=request.user, pk=workspace_pk)
        # Refuse a viewer before reading the body.
        selectors.workspace_require_role(user=request.user, workspace=workspace, role=Role.EDITOR)
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": "Send the crate zip as the multipart field 'file'."})
        project = None
        if request.data.get("project"):
            try:
                project = selectors.project_get(user=request.user, pk=request.data["project"], workspace=workspace)
            except Http404:
                raise ValidationError({"project": "No such project in this workspace."}) from None
        result = crate_import(
            user=request.user, workspace=workspace, fileobj=upload, project=project, crate_name=upload.name
        )
        run = result.run
        body = {
            "run": run.pk,
            "number": run.number,
            "workspace": workspace.pk,
            "project": run.project_id,
            "experiment": run.experiment_id,
            "url": request.build_absolute_uri(run.get_absolute_url()),
            "assets": len(result.assets),
            "referenced_inputs": result.referenced,
            "imported": run.imported,
        }
        return Response(body, status=status.HTTP_201_CREATED)
