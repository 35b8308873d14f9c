"""Scale-out (issue 6): two worker "machines" share the database, the broker and an S3 object store.

The object store is a real S3 API server (moto in server mode) reached through
django-storages. Each worker process gets its own host name, work directory and
``MEDIA_ROOT`` (its local disk) and no workflow folder, as on separate machines:
it can only reach the run's snapshot, the uploaded dataset and every output
through the shared store. The test drives the public surfaces over HTTP (the
live server is the web machine): a tus upload with tuspy, launches through
``POST /api/experiments/{id}/launch/``, then downloads every artifact, log and
checkpoint through ``GET /api/assets/{id}/content/`` and checks the bytes
against the bucket.
"""

from __future__ import annotations

import hashlib
import io
import json
import time

import pytest
import requests
from rest_framework.authtoken.models import Token
from tusclient import client as tus_client

from assets_app.models import Asset
from runs_app.choices import TERMINAL_RUN_STATUSES, RunStatus
from runs_app.models import Execution, Run
from runs_app.services import experiment_create
from tests.s3_support import s3_env

from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RUNS = 8

WORKFLOW = """
import hashlib
import socket

from runs_app.workflow import Workflow

workflow = Workflow("scaleout")


@workflow.task
def featurize(ctx, i: int = 0):
    data = ctx.find_asset("ligands.csv").read_bytes()
    rows = data.decode().splitlines()[1:]
    ctx.log("featurize").extend(f"{i}: {row}" for row in rows)
    ctx.log_metric("rows", len(rows), step=i)
    digest = hashlib.sha256(data + str(i).encode()).hexdigest()
    ctx.artifact.save("features.json", {"i": i, "rows": len(rows), "digest": digest})
    ctx.artifact.save("blob.bin", hashlib.sha256(digest.encode()).digest() * 40_000)
    ctx.checkpoint("state", data={"i": i}, file=digest.encode() * 100)
    return digest


@workflow.task(depends_on=["featurize"])
def report(ctx, featurize):
    ctx.set_result("digest", featurize)
    ctx.log("featurize").append("report done")
"""

MOLCFG = "profiles:\n  default: {}\n"


@pytest.fixture
def experiment_s3(project, editor, settings, tmp_path):
    wf = tmp_path / "workflows"
    wf.mkdir()
    (wf / "scaleout.py").write_text(WORKFLOW)
    (wf / "molcfg.yaml").write_text(MOLCFG)
    settings.MOLEXP_WORKFLOW_DIRS = [str(wf)]
    return experiment_create(user=editor, project=project, name="Scale-out", workflow_source="scaleout.py")


def _machine(tmp_path, name: str, server, bucket: str) -> dict[str, str]:
    root = tmp_path / name
    (root / "workflows").mkdir(parents=True)  # the live tree is not on this machine
    return {
        **s3_env(server, bucket),
        "MOLEXP_WORKER_HOSTNAME": name,
        "MEDIA_ROOT": str(root / "media"),
        "MOLEXP_WORK_DIR": str(root / "work"),
        "MOLEXP_WORKFLOW_DIRS": str(root / "workflows"),
        "MOLEXP_HEARTBEAT_SECONDS": "1",
    }


def test_two_machines_share_one_record_through_s3(
    experiment_s3, editor, ws, live_server, celery_worker, moto_server, s3_bucket, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "web" / "media"
    token = Token.objects.create(user=editor).key
    auth = {"Authorization": f"Token {token}"}

    # The web machine takes a dataset with tus; it lands in the bucket.
    dataset = b"smiles\n" + b"".join(f"C{'C' * (i % 7)}O\n".encode() for i in range(500))
    tus = tus_client.TusClient(f"{live_server.url}/api/uploads/", headers=auth)
    uploader = tus.uploader(
        file_stream=io.BytesIO(dataset), chunk_size=1500, metadata={"filename": "ligands.csv", "workspace": str(ws.pk)}
    )
    uploader.upload()
    data_asset = Asset.objects.get(pk=uploader.request.response_headers["molexp-asset-id"])
    assert moto_server.get(s3_bucket, data_asset.file.name) == dataset

    # Two worker machines on the runs queue, one maintenance worker on the default queue.
    workers = [
        celery_worker(
            env=_machine(tmp_path, "machine-a", moto_server, s3_bucket), queues="runs", hostname="a@machine-a"
        ),
        celery_worker(
            env=_machine(tmp_path, "machine-b", moto_server, s3_bucket), queues="runs", hostname="b@machine-b"
        ),
        celery_worker(
            env=_machine(tmp_path, "machine-c", moto_server, s3_bucket), queues="default", hostname="m@machine-c"
        ),
    ]

    response = requests.post(
        f"{live_server.url}/api/experiments/{experiment_s3.pk}/launch/",
        json={"profile": "default", "sweep": {"i": list(range(RUNS))}},
        headers=auth,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    ids = [r["id"] for r in response.json()["runs"]]
    assert len(ids) == RUNS

    done = lambda: not Run.objects.filter(pk__in=ids).exclude(status__in=TERMINAL_RUN_STATUSES).exists()  # noqa: E731
    assert wait_until(done, timeout=180, interval=0.5), "\n".join(w.log_tail(30) for w in workers)
    failed = list(
        Run.objects.filter(pk__in=ids).exclude(status=RunStatus.SUCCEEDED).values("number", "status", "error")
    )
    assert not failed, (failed, "\n".join(w.log_tail(30) for w in workers))

    machines = set(Execution.objects.filter(run__in=ids).values_list("worker_hostname", flat=True))
    assert machines == {"machine-a", "machine-b"}, machines

    bucket_keys = set(moto_server.keys(s3_bucket))
    for run in Run.objects.filter(pk__in=ids):
        i = run.params["i"]
        expected_digest = hashlib.sha256(dataset + str(i).encode()).hexdigest()
        assert run.results == {"digest": expected_digest}
        assets = {a.name: a for a in Asset.objects.filter(run=run)}
        assert {"features.json", "blob.bin", "featurize", "state"} <= set(assets)
        for name in ("features.json", "blob.bin", "featurize", "state"):
            asset = assets[name]
            assert asset.file.name in bucket_keys, (name, asset.file.name)  # logs: joined, not segments
            got = requests.get(f"{live_server.url}/api/assets/{asset.pk}/content/", headers=auth, timeout=30)
            assert got.status_code == 200, (name, got.status_code)
            assert hashlib.sha256(got.content).hexdigest() == asset.sha256
            assert got.content == moto_server.get(s3_bucket, asset.file.name)
        assert json.loads(assets["features.json"].read_bytes())["digest"] == expected_digest
        log = assets["featurize"]
        assert log.line_count == 501 and log.read_text().endswith("report done\n")
        ranged = requests.get(
            f"{live_server.url}/api/assets/{assets['blob.bin'].pk}/content/",
            headers={**auth, "Range": "bytes=100-199"},
            timeout=30,
        )
        assert ranged.status_code == 206 and ranged.content == assets["blob.bin"].read_bytes()[100:200]
        assert data_asset.uses.filter(run=run).exists()  # each run recorded the dataset it used

    # No log segment folder is left behind, and no asset byte reached a worker's local disk.
    assert not [k for k in bucket_keys if k.startswith("logs/")]
    for name in ("machine-a", "machine-b", "machine-c"):
        media = tmp_path / name / "media"
        leftovers = [p for p in media.rglob("*") if p.is_file()] if media.exists() else []
        assert leftovers == [], leftovers

    # The maintenance worker (default queue) runs its periodic work against the same store.
    from molexp_site.celery import app

    app.send_task("assets.maintenance", queue="default")
    assert wait_until(lambda: "assets.maintenance" in workers[2].log() and "succeeded" in workers[2].log(), timeout=60)
    time.sleep(0.2)
