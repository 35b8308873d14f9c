"""Storage use per workspace, project and experiment (SPEC §14): reads, logical and physical.

- **logical** bytes: the sum of the sizes of every asset version in the scope (what the
  catalog lists; two versions with the same bytes count twice);
- **physical** bytes: each stored object (``Asset.file``) counted once within the scope,
  i.e. after deduplication. An object shared with another workspace counts in both.

Versions whose content a retention policy removed count in neither (their rows stay).

Invariants: a whole usage report is three ``GROUP BY`` queries plus the project and
experiment names, whatever the number of assets; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections

from runs_app.models import Experiment, Project, Workspace

from .models import Asset


@dataclass(frozen=True)
class Usage:
    logical_bytes: int = 0
    physical_bytes: int = 0


def _grouped(*, workspace_id: int, key: str) -> dict[int | None, Usage]:
    """``{key value: Usage}`` over the workspace's assets, ``key`` one of workspace_id/project_id/experiment_id."""
    assert key in ("workspace_id", "project_id", "experiment_id")
    connection = connections[Asset.objects.db]
    q = connection.ops.quote_name
    table, column, file, size = q(Asset._meta.db_table), q(key), q("file"), q("size")
    # Per (scope, stored object): the versions' total and the object's size once; then per scope.
    sql = (
        f"SELECT t.k, SUM(t.total), SUM(t.largest) FROM ("  # noqa: S608 - quoted identifiers, one parameter
        f"SELECT {column} AS k, {file} AS f, SUM({size}) AS total, "
        f"CASE WHEN {file} = '' THEN 0 ELSE MAX({size}) END AS largest "
        f"FROM {table} WHERE {q('workspace_id')} = %s AND {q('retention_removed_at')} IS NULL "
        f"AND {q('trash_id')} IS NULL "
        f"GROUP BY {column}, {file}) t GROUP BY t.k"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace_id])
        return {k: Usage(int(total or 0), int(largest or 0)) for k, total, largest in cursor.fetchall()}


def workspace_physical_bytes(*, workspace_id: int) -> int:
    """The workspace's bytes after deduplication (what its quota bounds): one query."""
    return _grouped(workspace_id=workspace_id, key="workspace_id").get(workspace_id, Usage()).physical_bytes


def storage_usage_get(*, workspace: Workspace) -> dict:
    """The usage report of one workspace (the caller has checked it may see it).

    ``{"workspace": {logical_bytes, physical_bytes, storage_quota_bytes}, "projects": [...],
    "experiments": [...]}``; projects and experiments are listed whether or not they hold
    assets, by name. Five queries.
    """
    totals = _grouped(workspace_id=workspace.pk, key="workspace_id").get(workspace.pk, Usage())
    by_project = _grouped(workspace_id=workspace.pk, key="project_id")
    by_experiment = _grouped(workspace_id=workspace.pk, key="experiment_id")
    projects = Project.objects.filter(workspace=workspace).order_by("name", "pk").values("pk", "name", "slug")
    experiments = (
        Experiment.objects.filter(workspace=workspace)
        .order_by("project__name", "name", "pk")
        .values("pk", "name", "slug", "project_id", "project__name", "project__slug")
    )
    return {
        "workspace": {
            "id": workspace.pk,
            "logical_bytes": totals.logical_bytes,
            "physical_bytes": totals.physical_bytes,
            "storage_quota_bytes": workspace.storage_quota_bytes,
        },
        "projects": [
            {"id": p["pk"], "name": p["name"], "slug": p["slug"], **vars(by_project.get(p["pk"], Usage()))}
            for p in projects
        ],
        "experiments": [
            {
                "id": e["pk"],
                "name": e["name"],
                "slug": e["slug"],
                "project": e["project_id"],
                "project_name": e["project__name"],
                "project_slug": e["project__slug"],
                **vars(by_experiment.get(e["pk"], Usage())),
            }
            for e in experiments
        ],
    }
