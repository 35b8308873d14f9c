"""API of reproduce and verify: ``POST /api/runs/{id}/reproduce/`` and ``GET /api/runs/{id}/verdict/``.

Thin adapters over ``runs_app.services.run_reproduce`` and ``reproduction_verdict_get``;
permission and state rules (editor role, 409 for an unfinished run) live in the services.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from .serializers import RunDetailSerializer


class RunReproduceView(APIView):
    """Reproduce a finished run: a new run from its snapshot, config and exact input versions (editor)."""

    @extend_schema(request=None, responses={201: RunDetailSerializer})
    def post(self, request: Request, pk: str) -> Response:
        """201 with the new run (queued); 409 unless the run succeeded or failed; 403 for viewers."""
        run = selectors.run_get(user=request.user, pk=pk)
        copy = services.run_reproduce(user=request.user, run=run)
        detail = selectors.run_list_with_executions(user=request.user, pks=[copy.pk]).get()
        return Response(RunDetailSerializer(detail).data, status=status.HTTP_201_CREATED)


class RunVerdictView(APIView):
    """The verdict of a reproduction: 200 with it, 202 ``{"status": "pending"}`` while it runs, 404 otherwise."""

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT})
    def get(self, request: Request, pk: str) -> Response:
        run = selectors.run_get(user=request.user, pk=pk)
        if not run.reproduction_of_id:
            raise Http404("This run is not a reproduction.")
        verdict = services.reproduction_verdict_get(run=run)
        if verdict is None:
            body = {
                "status": "pending",
                "run": run.pk,
                "run_status": run.status,
                "reproduction_of": run.reproduction_of_id,
            }
            return Response(body, status=status.HTTP_202_ACCEPTED)
        return Response({"status": "done", "run": run.pk, "reproduction_of": run.reproduction_of_id, **verdict})
