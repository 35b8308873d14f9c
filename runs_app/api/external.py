"""REST endpoints of external runs, recorded by the ``molexp`` client (SPEC §13).

Thin adapters over ``runs_app.services.external``; permission (launcher or
editor), 409 for a finished run and validation live there.

    POST /api/external/runs/                          create (idempotent on run_uuid) → run
    POST /api/external/runs/{id}/heartbeat/           → {status, cancel_requested}
    POST /api/external/runs/{id}/logs/                {"logs": {name: [line, …]}}, or
                                                      ?name=…&seq=… with a text/plain body (lines, each + "\\n")
    POST /api/external/runs/{id}/metrics/             {"points": [[key, value, step], …]}
    POST /api/external/runs/{id}/results/             {"results": {key: value}}
    POST /api/external/runs/{id}/checkpoints/         JSON (or form): name, data (JSON), tags — no file
    (artifact and checkpoint files go over the tus endpoint /api/uploads/ with Upload-Metadata run)
    POST /api/external/runs/{id}/inputs/              {"name", "kind"?, "version"?} → asset + download URL
    POST /api/external/runs/{id}/finish/              {"status": succeeded|failed, "error"?, "finished_at"?}
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, parsers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..services import external as svc
from .serializers import RunDetailSerializer


def _asset_info(asset) -> dict:
    return {
        "id": asset.pk,
        "kind": asset.kind,
        "name": asset.name,
        "version": asset.version,
        "size": asset.size,
        "sha256": asset.sha256,
        "content_url": f"/api/assets/{asset.pk}/content/",
    }


def _json_field(request: Request, name: str):
    value = request.data.get(name)
    if isinstance(value, str) and not request.content_type.startswith("application/json"):  # a form field
        try:
            return json.loads(value) if value else None
        except ValueError:
            raise ValidationError({name: f"{name} must be JSON."}) from None
    return value


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."


class LogTextParser(parsers.BaseParser):
    """A ``text/plain`` log batch: the body's bytes as they are (``external_log_text_append`` checks them),
    at most ``MAX_LOG_TEXT_BYTES`` (413 past it)."""

    media_type = "text/plain"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        limit = svc.MAX_LOG_TEXT_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge(f"A text/plain log batch is at most {limit} bytes; send smaller batches.")
        return data


class _RunView(APIView):
    def run(self, request: Request, pk: str):
        return selectors.run_get(user=request.user, pk=pk)


class ExternalRunCreateView(APIView):
    """Start recording an external run (editor); the same ``run_uuid`` again returns the same run."""

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: RunDetailSerializer, 201: RunDetailSerializer})
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        run, created = svc.external_run_create(
            user=request.user,
            experiment=data.get("experiment", ""),
            run_uuid=data.get("run_uuid", ""),
            create_experiment=bool(data.get("create_experiment", False)),
            config=data.get("config"),
            params=data.get("params"),
            profile=data.get("profile") or "",
            snapshot=data.get("snapshot"),
            git=data.get("git"),
            environment=data.get("environment"),
            host=data.get("host") or "",
            pid=data.get("pid"),
            started_at=data.get("started_at"),
        )
        detail = selectors.run_list_with_executions(user=request.user, pks=[run.pk]).get()
        body = RunDetailSerializer(detail).data
        body["url"] = request.build_absolute_uri(run.get_absolute_url())
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ExternalHeartbeatView(_RunView):
    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: str) -> Response:
        return Response(svc.external_heartbeat(user=request.user, run=self.run(request, pk)))


class ExternalLogsView(_RunView):
    parser_classes = [*APIView.parser_classes, LogTextParser]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: str) -> Response:
        run = self.run(request, pk)
        if isinstance(request.data, bytes):  # text/plain: the client's fast path, one log per request
            return Response(
                svc.external_log_text_append(
                    user=request.user, run=run, name=request.query_params.get("name"), text=request.data,
                    seq=request.query_params.get("seq"),
                )
            )  # fmt: skip
        return Response(
            svc.external_logs_append(
                user=request.user, run=run, logs=request.data.get("logs"), seq=request.data.get("seq")
            )
        )


class ExternalMetricsView(_RunView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: str) -> Response:
        run = self.run(request, pk)
        return Response(
            svc.external_metrics_add(
                user=request.user, run=run, points=request.data.get("points"), seq=request.data.get("seq")
            )
        )


class ExternalResultsView(_RunView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: str) -> Response:
        run = self.run(request, pk)
        return Response(
            {
                "results": svc.external_results_set(
                    user=request.user, run=run, results=request.data.get("results"), seq=request.data.get("seq")
                )
            }
        )


class ExternalCheckpointView(_RunView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: str) -> Response:
        run = self.run(request, pk)
        if request.FILES:
            raise ValidationError({"file": "A checkpoint's file goes over the tus endpoint (/api/uploads/, "
                                           "Upload-Metadata run, checkpoint and data)."})  # fmt: skip
        asset = svc.external_checkpoint_save(
            user=request.user, run=run, name=str(request.data.get("name") or ""), data=_json_field(request, "data"),
            seq=request.data.get("seq"), tags=request.data.get("tags") or (),
        )  # fmt: skip
        if asset is None:
            return Response({"duplicate": True})
        return Response(_asset_info(asset), status=status.HTTP_201_CREATED)


class ExternalInputView(_RunView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: str) -> Response:
        run = self.run(request, pk)
        version = request.data.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise ValidationError({"version": "version is an integer."})
        asset = svc.external_input_resolve(
            user=request.user, run=run, name=str(request.data.get("name") or ""),
            kind=request.data.get("kind") or None, version=version,
        )  # fmt: skip
        return Response(_asset_info(asset))


class ExternalFinishView(_RunView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: RunDetailSerializer})
    def post(self, request: Request, pk: str) -> Response:
        run = self.run(request, pk)
        svc.external_run_finish(
            user=request.user, run=run, status=str(request.data.get("status") or ""),
            error=request.data.get("error"), finished_at=request.data.get("finished_at"),
        )  # fmt: skip
        detail = selectors.run_list_with_executions(user=request.user, pks=[run.pk]).get()
        return Response(RunDetailSerializer(detail).data)
