"""Lifecycle throughput (SPEC §14, issue 17 deliverable 3): deleting a project into the trash,
purging it, and ``manage.py gc`` over a store where most objects are referenced.

The world is made here on each run, in its own workspace (``lifecycle``), and removed by the
purge it measures: one project of ``EXPERIMENTS`` experiments and ``runs`` runs; each run has one
execution with three task executions, four events, ``metrics`` points and ``assets`` assets, each
asset with its own 4 KiB blob file in the asset storage (fsync off while making it: setup, not the
measure). One asset in ten is used as an input by the next run (lineage rows). Besides the world's
blobs the store holds ``orphans`` unreferenced blob files and ``orphans // 5`` unreferenced code
bundle files (``code/…``), as a crash or a deleted run leaves them.

Measured, through the same code a user reaches:
- ``DELETE /api/projects/{id}/`` (into the trash: every row under the project marked);
- ``manage.py gc --dry-run`` and ``manage.py gc --grace-seconds=0`` (``blob_gc``): objects looked
  at per second (the world's referenced blobs and the orphans) and objects freed per second;
- ``DELETE /api/trash/{id}/`` (the purge: rows deleted, then the world's blobs freed under their
  claim locks): assets purged per second, with their bytes.

Targets: the purge of a project through the API is one request, so it must finish well inside what a
client or a proxy waits for an answer (30 s) for a project of the scale's size: ≥ 1 000 assets/s with
every row under them and their bytes; the collector must walk ≥ 2 000 objects/s and free
≥ 1 000 objects/s (a store of a million objects in under ten minutes, while writers go on).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

EXPERIMENTS = 10
SIZES = {  # per scale: runs in the project, assets and metric points per run, orphan blob files
    "small": {"runs": 200, "assets": 10, "metrics": 100, "orphans": 1_000},
    "reduced": {"runs": 1_000, "assets": 10, "metrics": 100, "orphans": 5_000},
    "full": {"runs": 5_000, "assets": 10, "metrics": 100, "orphans": 20_000},
    "huge": {"runs": 5_000, "assets": 10, "metrics": 100, "orphans": 20_000},
}
BLOB_BYTES = 4096
PURGE_ASSETS_PER_S = 1_000
GC_WALK_PER_S = 2_000
GC_FREE_PER_S = 1_000


def _payload(tag: str) -> tuple[str, bytes]:
    data = hashlib.sha256(tag.encode()).digest() * (BLOB_BYTES // 32)
    return hashlib.sha256(data + tag.encode()).hexdigest(), data + tag.encode()


def _clear_previous(user) -> None:
    """A world left by an interrupted run: deleted and purged (not measured)."""
    from assets_app.services.trash import trash_purge
    from runs_app.models import Workspace
    from runs_app.services.trash import object_delete
    from runs_app.trash_models import TrashEntry

    ws = Workspace.all_objects.filter(slug="lifecycle").first()
    if ws is None:
        return
    if ws.trash_id is None:
        object_delete(user=user, obj=ws)
        ws.refresh_from_db()
    trash_purge(user=user, entry=TrashEntry.objects.get(pk=ws.trash_id))


def make_world(user, size: dict) -> tuple:
    """The workspace, its project and the names of the world's blobs (name → size)."""
    from django.utils import timezone

    from assets_app import storage
    from assets_app.models import Asset, AssetUse
    from assets_app.services.blobs import blob_name
    from runs_app.choices import Role
    from runs_app.models import (
        Execution,
        Experiment,
        Membership,
        Metric,
        Project,
        Run,
        RunEvent,
        TaskExecution,
        Workspace,
    )

    ws = Workspace.objects.create(slug="lifecycle", name="Lifecycle bench")
    Membership.objects.create(workspace=ws, user=user, role=Role.OWNER)
    project = Project.objects.create(workspace=ws, slug="purge-me", name="Purge me")
    experiments = Experiment.objects.bulk_create(
        [Experiment(project=project, workspace=ws, slug=f"e{i}", name=f"E{i}", workflow_name="noop") for i in range(EXPERIMENTS)]
    )  # fmt: skip
    now = timezone.now()
    runs = Run.objects.bulk_create(
        [
            Run(experiment=experiments[i % EXPERIMENTS], project=project, workspace=ws, number=i // EXPERIMENTS + 1,
                status="succeeded", profile="default", config={"lr": 10 ** -(1 + i % 4), "seed": i}, params={"seed": i},
                config_hash=f"{i:064x}", results={"rmse": 1 / (1 + i)}, launched_by=user, started_at=now, finished_at=now,
                workflow_snapshot={"workflow_name": "noop", "files": {"wf.py": {"sha256": f"{i % 50:064x}", "size": 10}}})
            for i in range(size["runs"])
        ],
        batch_size=2000,
    )  # fmt: skip
    executions = Execution.objects.bulk_create(
        [Execution(run=r, number=1, status="succeeded", started_at=now, finished_at=now) for r in runs], batch_size=2000
    )
    TaskExecution.objects.bulk_create(
        [
            TaskExecution(execution=e, task_name=t, status="succeeded")
            for e in executions
            for t in ("load", "fit", "score")
        ],
        batch_size=5000,
    )
    RunEvent.objects.bulk_create(
        [RunEvent(run=e.run, execution=e, from_status=a, to_status=b)
         for e in executions for a, b in (("", "pending"), ("pending", "queued"), ("queued", "running"), ("running", "succeeded"))],
        batch_size=5000,
    )  # fmt: skip
    Metric.objects.bulk_create(
        [Metric(run=e.run, execution=e, key="loss", step=s, value=1 / (1 + s)) for e in executions for s in range(size["metrics"])],
        batch_size=10_000,
    )  # fmt: skip
    files: dict[str, int] = {}
    assets = []
    for e in executions:
        run = e.run
        for k in range(size["assets"]):
            sha, data = _payload(f"world-{run.pk}-{k}")
            name = blob_name(sha)
            storage.put_bytes(name, data, fsync=False)
            files[name] = len(data)
            kind = ("artifact", "log", "checkpoint")[k % 3]
            assets.append(Asset(
                kind=kind, name=f"out-{k}.bin", version=1, scope="run", workspace=ws, project=project,
                experiment=run.experiment, run=run, scope_key=Asset.make_scope_key(ws.pk, project.pk, run.experiment_id, run.pk),
                file=name, size=len(data), sha256=sha, media_type="application/octet-stream",
                search_text=f"out {k} {kind}", producer_run=run, producer_execution=e, producer_task="fit", created_by=user,
            ))  # fmt: skip
    assets = Asset.objects.bulk_create(assets, batch_size=5000)
    per_run = size["assets"]
    AssetUse.objects.bulk_create(
        [AssetUse(asset=assets[i * per_run], run=runs[i + 1], execution=executions[i + 1], task_name="load")
         for i in range(0, len(runs) - 1, 10)],
        batch_size=5000,
    )  # fmt: skip
    return ws, project, files


def make_orphans(n: int) -> int:
    """``n`` unreferenced blob files and ``n // 5`` unreferenced code bundle files; returns how many."""
    from assets_app import storage
    from assets_app.services.blobs import blob_name

    for i in range(n):
        sha, data = _payload(f"orphan-{os.getpid()}-{i}")
        storage.put_bytes(blob_name(sha), data, fsync=False)
    for i in range(n // 5):
        sha, data = _payload(f"orphan-code-{os.getpid()}-{i}")
        storage.put_bytes(storage.code_blob_name(sha), data, fsync=False)
    return n + n // 5


def main() -> None:
    common.setup()
    from django.db import connection

    from assets_app import storage
    from assets_app.models import Asset, AssetUse
    from assets_app.services.blob_gc import blob_gc
    from runs_app.models import Execution, Metric, Run
    from runs_app.trash_models import TrashEntry

    scale = common.scale_name()
    size = SIZES[scale]
    report = common.Report("lifecycle")
    print(common.header())
    user = common.bench_user()
    _clear_previous(user)
    blob_gc(grace_seconds=0)  # objects an earlier run left behind: not this run's measure

    t0 = time.perf_counter()
    ws, project, files = make_world(user, size)
    orphans = make_orphans(size["orphans"])
    with connection.cursor() as cursor:  # the world's rows in the planner's statistics, as after autovacuum
        for model in (Run, Execution, Metric, Asset, AssetUse):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    n_assets, n_runs = len(files), size["runs"]
    rows_under = n_runs * (1 + 1 + 3 + 4 + size["metrics"]) + n_assets + (n_runs - 1) // 10 + 1 + EXPERIMENTS
    report.note(
        f"world: 1 project, {EXPERIMENTS} experiments, {n_runs:,} runs, {n_assets:,} assets with a "
        f"{BLOB_BYTES // 1024} KiB blob each, {n_runs * size['metrics']:,} metric points ({rows_under:,} rows); "
        f"{orphans:,} unreferenced objects; made in {time.perf_counter() - t0:.1f} s"
    )
    client = common.api_client()

    t = time.perf_counter()
    response = client.delete(f"/api/projects/{project.pk}/")
    delete_s = time.perf_counter() - t
    assert response.status_code == 204, (response.status_code, response.content[:300])
    report.add(f"DELETE /api/projects/{{id}}/ ({n_assets:,} assets, {n_runs:,} runs) into the trash", p50=round(delete_s, 3),
               unit="s", target="reference", rows=rows_under)  # fmt: skip

    # the collector with the project in the trash: its blobs are referenced (bytes in the trash are never freed)
    walked = n_assets + orphans
    t = time.perf_counter()
    dry = blob_gc(dry_run=True, grace_seconds=0)
    dry_s = time.perf_counter() - t
    report.add(f"manage.py gc --dry-run: {walked:,} objects looked at, objects/s", p50=round(walked / dry_s), unit="/s",
               target=f"≥ {GC_WALK_PER_S:,} /s", ok=walked / dry_s >= GC_WALK_PER_S and dry.objects == orphans,
               seconds=round(dry_s, 3), would_free=dry.objects)  # fmt: skip
    t = time.perf_counter()
    freed = blob_gc(grace_seconds=0)
    gc_s = time.perf_counter() - t
    report.add(f"manage.py gc: {freed.objects:,} of {walked:,} objects freed, objects freed/s",
               p50=round(freed.objects / gc_s), unit="/s", target=f"≥ {GC_FREE_PER_S:,} /s",
               ok=freed.objects / gc_s >= GC_FREE_PER_S and freed.objects == orphans,
               seconds=round(gc_s, 3), walked_per_s=round(walked / gc_s))  # fmt: skip

    entry = TrashEntry.objects.get(object_type="project", object_id=project.pk)
    t = time.perf_counter()
    response = client.delete(f"/api/trash/{entry.pk}/")
    purge_s = time.perf_counter() - t
    assert response.status_code == 204, (response.status_code, response.content[:300])
    left = sum(1 for name in files if storage.exists(name))
    rate = n_assets / purge_s
    report.add(f"DELETE /api/trash/{{id}}/: purge {n_assets:,} assets, {rows_under:,} rows, {sum(files.values()) / 2**20:.0f} MiB, assets/s",
               p50=round(rate), unit="/s", target=f"≥ {PURGE_ASSETS_PER_S:,} /s, bytes freed",
               ok=rate >= PURGE_ASSETS_PER_S and left == 0, seconds=round(purge_s, 3), blobs_left=left)  # fmt: skip
    _clear_previous(user)  # the workspace itself (empty now)
    path = report.save()
    print(f"-> {path}")


if __name__ == "__main__":
    main()
