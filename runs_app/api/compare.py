"""API for run comparison and the workspace activity feed: thin views over ``runs_app.selectors``.

``GET /api/runs/compare/?runs=12,15`` answers what the compare page shows, as JSON.
``GET /api/workspaces/{id}/activity/`` pages the activity feed with a keyset cursor
(``next`` is the URL of the older page, ``null`` on the last one).
``GET /api/runs/{id}/fix/`` answers the failure-to-fix page (``selectors.run_failure_fix``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..choices import RunStatus
from ..forms import activity_filters_clean, run_compare_parse_refs


def _run(run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "number": run.number,
        "url": run.get_absolute_url(),
        "workspace": run.workspace_id,
        "project": run.project_id,
        "project_name": run.project.name,
        "experiment": run.experiment_id,
        "experiment_name": run.experiment.name,
        "status": run.status,
        "profile": run.profile,
        "config_hash": run.config_hash,
        "source_sha256": (run.workflow_snapshot or {}).get("source_sha256", ""),
        "launched_by": run.launched_by.username if run.launched_by_id else None,
        "created_at": run.created_at,
    }


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Diff rows with each run's value (``null`` and ``present: false`` when absent)."""
    return [
        {
            "key": row["key"],
            "status": row["status"],
            "values": [{"present": c["present"], "value": c["value"]} for c in row["cells"]],
        }
        for row in rows
    ]


class RunCompareView(APIView):
    """Compare two or more runs of one workspace (any experiments); the first run is the baseline.

    Rows carry ``status``: ``same``, ``differs`` or ``partial`` (only in some runs). 400 for
    fewer than two runs, more than 20, or runs of different workspaces; 404 for a run you cannot read.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "runs",
                OpenApiTypes.STR,
                required=True,
                description="Run ids, comma-separated (12,15,19), or experiment:number as on the pages (lab/qm9/baseline:3,4)",
            )  # fmt: skip
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        refs = run_compare_parse_refs(request.query_params.getlist("runs"))
        run_ids = selectors.run_refs_resolve(user=request.user, refs=refs)
        c = selectors.run_compare(user=request.user, run_ids=run_ids)
        body = {
            "workspace": c["workspace"].pk,
            "runs": [_run(r) for r in c["runs"]],
            "config": _rows(c["config"]),
            "config_summary": c["config_summary"],
            "params": _rows(c["params"]),
            "profile": _rows([c["profile"]])[0],
            "code": c["code"],
            "topology": _rows([c["topology"]])[0],
            "git": _rows(c["git"]),
            "git_diffs": c["git_diffs"],
            "inputs": _rows(c["inputs"]),
            "environment": _rows(c["environment"]),
            "environment_recorded": c["environment_recorded"],
            "packages": _rows(c["packages"]),
            "packages_same": c["packages_same"],
            "results": _rows(c["results"]),
            "metrics": _rows(c["metrics"]),
            "curves": c["curves"],
        }
        return Response(body)


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"source": entry["source"], "created_at": entry["created_at"], "cursor": entry["cursor"]}
    if entry["source"] == "run":
        e = entry["event"]
        out.update(
            {
                "id": e.pk,
                "run": e.run_id,
                "run_number": e.run.number,
                "run_url": e.run.get_absolute_url(),
                "experiment": e.run.experiment_id,
                "experiment_name": e.run.experiment.name,
                "project": e.run.project_id,
                "project_name": e.run.project.name,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "message": e.message,
                "launched_by": e.run.launched_by.username if e.run.launched_by_id else None,
            }
        )
    else:
        a = entry["asset"]
        out.update(
            {
                "id": a.pk,
                "asset": a.pk,
                "name": a.name,
                "kind": a.kind,
                "version": a.version,
                "scope": a.scope,
                "project": a.project_id,
                "size": a.size,
                "sha256": a.sha256,
                "producer_run": a.producer_run_id,
                "producer_task": a.producer_task,
                "created_by": a.created_by.username if a.created_by_id else None,
                "url": a.get_absolute_url(),
            }
        )
    return out


class WorkspaceActivityView(APIView):
    """A workspace's run status events and asset additions, newest first; any member (others: 404).

    Filters: ``kind`` (runs | assets), ``project`` (id), ``status`` (run status; run events
    only), ``asset_kind`` (assets only). Keyset pagination: pass ``cursor`` from ``next``.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=["runs", "assets"]),
            OpenApiParameter("project", OpenApiTypes.INT),
            OpenApiParameter("status", OpenApiTypes.STR, enum=RunStatus.values),
            OpenApiParameter("asset_kind", OpenApiTypes.STR),
            OpenApiParameter("cursor", OpenApiTypes.STR),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, workspace_pk: str) -> Response:
        workspace = selectors.workspace_get(user=request.user, pk=workspace_pk)
        filters = activity_filters_clean(request.query_params)
        feed = selectors.workspace_activity(
            user=request.user,
            workspace=workspace,
            filters=filters,
            cursor=request.query_params.get("cursor") or None,
            limit=selectors.ACTIVITY_PAGE_SIZE,
        )
        next_url = None
        if feed["next_cursor"]:
            query = request.query_params.copy()
            query["cursor"] = feed["next_cursor"]
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response(
            {"next": next_url, "next_cursor": feed["next_cursor"], "results": [_entry(e) for e in feed["entries"]]}
        )


class RunFixView(APIView):
    """From failure to fix: the first later run of a failed run's experiment that succeeded, and
    what differed (config, params, profile, code files, inputs, environment, packages, git).

    ``fix`` is ``null`` while no later run has succeeded; a run that did not fail is a 400; a run
    you cannot read a 404. Differences hold only the rows that are not the same.
    """

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, pk: str) -> Response:
        found = selectors.run_failure_fix(user=request.user, run=selectors.run_get(user=request.user, pk=pk))
        fix = found["fix"]
        body = {
            "failed": _run(found["failed"]),
            "fix": _run(fix) if fix else None,
            "changed": found["changed"],
            "differences": {section: _rows(rows) for section, rows in found["differences"].items()},
            "profile": _rows([found["profile"]])[0] if found["profile"] else None,
            "code": found["code"],
        }
        return Response(body)
