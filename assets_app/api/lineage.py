"""``GET /api/assets/{id}/lineage/``: where an asset version came from and which runs used it.

Reads go through ``assets_app.selectors`` (scoped to the caller's workspaces), so
an outsider gets 404. Runs, experiments and executions are given by id, which
keeps the answer at a constant three queries (the asset, its uses, its versions)
whatever the number of uses.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Asset, AssetUse
from ..selectors import ASSET_VERSION_LIST_MAX, asset_get, asset_use_list, asset_version_list

#: Uses and versions the answer lists at most (newest first); ``*_truncated`` says when more exist.
LINEAGE_MAX_USES = 1000
#: Versions: ``assets_app.selectors.ASSET_VERSION_LIST_MAX`` (the asset page lists the same).
LINEAGE_MAX_VERSIONS = ASSET_VERSION_LIST_MAX


class LineageAssetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    scope = serializers.CharField()
    workspace = serializers.IntegerField(source="workspace_id")
    project = serializers.IntegerField(source="project_id", allow_null=True)
    experiment = serializers.IntegerField(source="experiment_id", allow_null=True)
    run = serializers.IntegerField(source="run_id", allow_null=True)
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()


class LineageProducerSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    run_number = serializers.IntegerField()
    experiment = serializers.IntegerField()
    execution = serializers.IntegerField(allow_null=True)
    execution_number = serializers.IntegerField(allow_null=True)
    task = serializers.CharField(allow_blank=True)


class LineageUseSerializer(serializers.Serializer):
    run = serializers.IntegerField(source="run_id")
    run_number = serializers.IntegerField(source="run.number")
    experiment = serializers.IntegerField(source="run.experiment_id")
    execution = serializers.IntegerField(source="execution_id", allow_null=True)
    execution_number = serializers.IntegerField(source="execution.number", allow_null=True, default=None)
    task = serializers.CharField(source="task_name", allow_blank=True)
    at = serializers.DateTimeField(source="created_at")


class LineageSerializer(serializers.Serializer):
    asset = LineageAssetSerializer()
    producer = LineageProducerSerializer(allow_null=True)
    used_by = LineageUseSerializer(many=True)
    used_by_truncated = serializers.BooleanField()
    versions = LineageAssetSerializer(many=True)
    versions_truncated = serializers.BooleanField()


def _producer(asset: Asset) -> dict[str, Any] | None:
    if asset.producer_run_id is None:
        return None
    execution = asset.producer_execution
    return {
        "run": asset.producer_run_id,
        "run_number": asset.producer_run.number,
        "experiment": asset.producer_run.experiment_id,
        "execution": asset.producer_execution_id,
        "execution_number": execution.number if execution is not None else None,
        "task": asset.producer_task,
    }


class AssetLineageView(APIView):
    """Producer (run, execution, task), every use of this version, and the versions of its name and scope."""

    @extend_schema(responses=LineageSerializer, operation_id="assets_lineage_retrieve")
    def get(self, request: Request, pk: str) -> Response:
        asset = asset_get(user=request.user, pk=pk)
        uses: list[AssetUse] = list(
            asset_use_list(asset=asset)
            .select_related(None)
            .select_related("run", "execution")
            .only("id", "run_id", "run__number", "run__experiment_id", "execution_id", "execution__number",
                  "task_name", "created_at")[: LINEAGE_MAX_USES + 1]
        )  # fmt: skip
        versions, versions_truncated = asset_version_list(user=request.user, asset=asset)
        data = {
            "asset": asset,
            "producer": _producer(asset),
            "used_by": uses[:LINEAGE_MAX_USES],
            "used_by_truncated": len(uses) > LINEAGE_MAX_USES,
            "versions": versions,
            "versions_truncated": versions_truncated,
        }
        return Response(LineageSerializer(data).data)
