"""``GET /api/runs/series/``: one metric of up to 100 runs of an experiment, downsampled (SPEC §15).

The page ``/w/…/e/<experiment>/charts/`` embeds the same data: both call ``chart_query``.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..chart_query import chart_query


class RunSeriesView(APIView):
    """Metric ``key`` of the runs of ``experiment`` (filtered like ``/api/runs/``, or ``runs=`` ids),
    at most 100 runs and ``max_points`` points per run (sampled on the server, first and last kept).

    Each run: ``id``, ``number``, ``label`` ("<experiment> #N"), ``values`` of the varying
    config/params/results keys (``columns``), and ``points`` as ``[step, epoch milliseconds, value]``.
    400 for a malformed query; 404 for an experiment you cannot read.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("experiment", OpenApiTypes.INT, required=True, description="Experiment id"),
            OpenApiParameter("key", OpenApiTypes.STR, description="Metric key (default: the first one)"),
            OpenApiParameter("runs", OpenApiTypes.STR, description="Run ids, comma-separated (default: all)"),
            OpenApiParameter("filter", OpenApiTypes.STR, many=True, description="Run conditions: config.lr>=1e-3"),
            OpenApiParameter("x", OpenApiTypes.STR, enum=["step", "time"]),
            OpenApiParameter("max_points", OpenApiTypes.INT, description="Points per run, 2 to 2000 (1000)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("experiment", "")
        if not raw.isdigit() or len(raw) > 18:
            raise DRFValidationError({"experiment": "An experiment id is required (?experiment=12)."})
        experiment = selectors.experiment_get(user=request.user, pk=int(raw))
        query = request.query_params.copy()
        query.pop("experiment", None)
        data = chart_query(user=request.user, experiment=experiment, query=query)
        data["experiment"] = {"id": experiment.pk, "name": experiment.name}
        return Response(data)
