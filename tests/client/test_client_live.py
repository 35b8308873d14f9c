"""The molexp client against a real HTTP server (pytest-django's live_server), SPEC §13."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import molexp
import pytest
from rest_framework.authtoken.models import Token

from assets_app import services as services_assets
from assets_app.models import Asset, AssetUse, Upload
from runs_app import services
from runs_app import snapshot as code_snapshot
from runs_app.fingerprint import run_fingerprint
from runs_app.models import Execution, Metric, Run
from runs_app.services.tokens import scoped_token_create, scoped_token_revoke
from tests import factories as f

from .conftest import CLIENT_SRC

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLEXP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MOLEXP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MOLEXP_OFFLINE_DIR", str(tmp_path / "offline"))
    monkeypatch.setenv("MOLEXP_HEARTBEAT_SECONDS", "1")
    monkeypatch.setenv("MOLEXP_RETRY_MAX_SECONDS", "1")
    return tmp_path


@pytest.fixture
def script_dir(tmp_path):
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "train.py").write_text("print('train')\n")
    (folder / "helpers.py").write_text("X = 1\n")
    (folder / "molcfg.yaml").write_text("profiles: {}\n")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.py").write_text("ignored")
    (folder / "data.bin").write_bytes(b"not in the snapshot")
    return folder


@pytest.fixture
def editor_token(editor, ws):
    return Token.objects.create(user=editor).key


def test_a_run_records_everything(live_server, env, ws, project, editor, editor_token, script_dir):
    data = env / "ligands.csv"
    data.write_text("smiles\nCCO\n")
    dataset = services_assets.data_asset_add_file(user=editor, path=data, name="ligands", workspace=ws)
    client = molexp.Client(url=live_server.url, token=editor_token)
    with client.start_run(f"{ws.slug}/{project.slug}/outside", config={"lr": 0.1}, params={"seed": 1},
                          profile="smoke", create_experiment=True, script=script_dir / "train.py") as ctx:  # fmt: skip
        path = ctx.find_asset("ligands")
        assert Path(path).read_text() == "smiles\nCCO\n"
        ctx.artifact.save("model.json", {"w": [1, 2]}, tags=["final"])
        for i in range(1000):
            ctx.log("train").append(f"epoch {i}")
            ctx.log_metric("loss", 1.0 / (i + 1), step=i)
        ctx.checkpoint("epoch-1", data={"epoch": 1})
        ctx.checkpoint("epoch-2", data={"epoch": 2}, file=b"weights", tags=["best"])
        ctx.set_result("acc", 0.91)
        assert ctx.params == {"seed": 1} and ctx.config == {"lr": 0.1}
    run = Run.objects.get(pk=ctx.id)
    assert run.status == "succeeded" and run.results == {"acc": 0.91} and run.profile == "smoke"
    assert run.config_hash and run.launched_by == editor
    execution = run.executions.get()
    assert execution.trigger == "external" and execution.status == "succeeded" and execution.worker_hostname
    assert execution.environment["python"]
    snap = run.workflow_snapshot
    assert sorted(snap["files"]) == ["helpers.py", "molcfg.yaml", "train.py"]  # the §12 manifest
    assert snap["workflow_source"] == "train.py" and snap["snapshot_hash"] == code_snapshot.manifest_hash(snap["files"])
    assert snap["source_sha256"] == hashlib.sha256(b"print('train')\n").hexdigest()
    assert run.fingerprint == run_fingerprint(snapshot_hash=snap["snapshot_hash"], workflow_name="train",
                                              config_hash=run.config_hash, params={"seed": 1})  # fmt: skip
    for entry in snap["files"].values():  # content-addressed like a worker run's bundle
        assert (
            code_snapshot.bundle_file_read(entry["sha256"])
            and len(code_snapshot.bundle_file_read(entry["sha256"])) == entry["size"]
        )
    assert Metric.objects.filter(run=run, key="loss").count() == 1000
    log = Asset.objects.get(run=run, kind="log", name="train")
    assert log.as_kind().line_count == 1000 and log.sha256
    artifact = Asset.objects.get(run=run, kind="artifact", name="model.json")
    assert artifact.tags == ["final"]
    assert Upload.objects.get(asset=artifact).status == "complete"  # artifacts go over the tus endpoint
    checkpoints = list(Asset.objects.filter(run=run, kind="checkpoint").order_by("id"))
    assert [c.name for c in checkpoints] == ["epoch-1", "epoch-2"]
    assert checkpoints[1].as_kind().parent_id == checkpoints[0].pk and checkpoints[1].tags == ["best"]
    assert checkpoints[1].size == 7 and checkpoints[0].as_kind().data == {"epoch": 1}
    assert checkpoints[1].as_kind().data == {"epoch": 2}  # its file came over tus (one upload path)
    assert Upload.objects.filter(asset=checkpoints[1], metadata__checkpoint="1").exists()
    assert AssetUse.objects.filter(run=run, asset=dataset).count() == 1  # lineage
    assert [e.to_status for e in run.events.filter(execution__isnull=True)] == ["running", "succeeded"]
    http = molexp.Client(url=live_server.url, token=editor_token).http
    detail = http.get(f"/api/runs/{run.pk}/")
    assert detail["executions"][0]["trigger"] == "external" and detail["workflow_snapshot"]["git_commit"] == ""
    lineage = http.get(f"/api/assets/{dataset.pk}/lineage/")
    assert str(run.pk) in str(lineage)
    for action in ("rerun", "resume", "clone", "reproduce"):  # the server does not have the code
        with pytest.raises(molexp.MolExpError) as info:
            http.post(f"/api/runs/{run.pk}/{action}/", json={})
        assert info.value.status == 409, action


def test_run_page_shows_external_run_without_rerun_or_clone(
    client, env, ws, project, editor, editor_token, script_dir, live_server
):
    with molexp.Client(url=live_server.url, token=editor_token).start_run(
        f"{ws.slug}/{project.slug}/page", create_experiment=True, script=script_dir / "train.py"
    ) as ctx:
        ctx.log_metric("loss", 1.0)
    run = Run.objects.get(pk=ctx.id)
    client.force_login(editor)
    html = client.get(run.get_absolute_url()).content.decode()
    assert "external" in html.lower()
    assert "Launch a clone" not in html
    assert ">Rerun<" not in html and ">Resume<" not in html


def test_an_exception_fails_the_run_and_is_reraised(live_server, env, ws, project, editor_token, script_dir):
    client = molexp.Client(url=live_server.url, token=editor_token)
    with pytest.raises(ZeroDivisionError):
        with client.start_run(f"{ws.slug}/{project.slug}/boom", create_experiment=True,
                              script=script_dir / "train.py") as ctx:  # fmt: skip
            ctx.log("train").append("before the error")
            1 / 0  # noqa: B018
    run = Run.objects.get(pk=ctx.id)
    assert run.status == "failed" and run.error["type"] == "ZeroDivisionError"
    trace = Asset.objects.get(pk=run.error["traceback_asset"]).as_kind()
    assert "ZeroDivisionError" in trace.traceback
    assert Asset.objects.get(run=run, kind="log").as_kind().line_count == 1


def test_finished_run_refuses_writes_and_viewer_cannot_write(
    live_server, env, ws, project, editor_token, viewer, script_dir
):
    client = molexp.Client(url=live_server.url, token=editor_token)
    with client.start_run(
        f"{ws.slug}/{project.slug}/done", create_experiment=True, script=script_dir / "train.py"
    ) as ctx:
        pass
    with pytest.raises(molexp.MolExpError) as info:
        client.http.post(f"/api/external/runs/{ctx.id}/results/", json={"results": {"x": 1}})
    assert info.value.status == 409
    viewer_http = molexp.Client(url=live_server.url, token=Token.objects.create(user=viewer).key).http
    with pytest.raises(molexp.MolExpError) as info:
        viewer_http.post(
            "/api/external/runs/",
            json={"experiment": f"{ws.slug}/{project.slug}/done", "run_uuid": "6b1f3c1e-4a8e-4f7c-9d2b-0a1b2c3d4e5f"},
        )
    assert info.value.status == 403
    with pytest.raises(molexp.MolExpError) as info:  # nor may a viewer attach an artifact over tus
        viewer_http.post("/api/uploads/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "3",
                         "Upload-Metadata": f"filename eC50eHQ=,run {base64.b64encode(str(ctx.id).encode()).decode()}"})  # fmt: skip
    assert info.value.status == 403
    with pytest.raises(molexp.MolExpError) as info:  # and the finished run takes no artifact from its editor
        client.http.post("/api/uploads/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "3",
                         "Upload-Metadata": f"filename eC50eHQ=,run {base64.b64encode(str(ctx.id).encode()).decode()}"})  # fmt: skip
    assert info.value.status == 409
    assert not Upload.objects.exists()


def test_out_of_scope_token_records_nothing(live_server, env, ws, project, editor, other_ws, script_dir):
    token, key = scoped_token_create(user=editor, workspace=ws, name="read-only", max_role="viewer")
    client = molexp.Client(url=live_server.url, token=key)
    assert client.http.get("/api/auth/whoami/")["scope"] == {"workspace": ws.pk, "max_role": "viewer"}
    before = Run.objects.count()
    with pytest.raises(molexp.MolExpError) as info:
        with client.start_run(
            f"{ws.slug}/{project.slug}/scoped", create_experiment=True, script=script_dir / "train.py"
        ):
            pass
    assert info.value.status == 403
    other_project = f.ProjectFactory(workspace=other_ws, name="O", slug="o")
    f.MembershipFactory(workspace=other_ws, user=editor, role="editor")
    with pytest.raises(molexp.MolExpError) as info:
        with client.start_run(
            f"{other_ws.slug}/{other_project.slug}/x", create_experiment=True, script=script_dir / "train.py"
        ):
            pass
    assert info.value.status == 404
    assert Run.objects.count() == before
    scoped_token_revoke(user=editor, pk=token.pk)
    with pytest.raises(molexp.MolExpError) as info:
        client.http.get("/api/auth/whoami/")
    assert info.value.status == 401  # a revoked token authenticates nothing


def test_offline_run_synced_twice_is_one_run(live_server, env, ws, project, editor_token, script_dir):
    client = molexp.Client(url=live_server.url, token=editor_token, offline=True)
    with client.start_run(
        f"{ws.slug}/{project.slug}/offline", create_experiment=True, script=script_dir / "train.py"
    ) as ctx:
        for i in range(50):
            ctx.log_metric("loss", i, step=i)
            ctx.log("train").append(f"line {i}")
        ctx.artifact.save("out.txt", "hello")
        ctx.set_result("best", 49)
    time.sleep(1.1)
    online = molexp.Client(url=live_server.url, token=editor_token)
    first = molexp.sync_dir(online.http, env / "offline")
    second = molexp.sync_dir(online.http, env / "offline")
    assert [e["state"] for e in first] == ["synced"] and [e["state"] for e in second] == ["already synced"]
    (env / "offline" / ctx.uuid / "synced.json").unlink()  # even without the local marker: still one run
    third = molexp.sync_dir(online.http, env / "offline")
    assert third[0]["state"] == "already on the server"
    run = Run.objects.get(executions__uuid=ctx.uuid)
    assert Run.objects.filter(experiment=run.experiment).count() == 1
    assert run.status == "succeeded" and run.results == {"best": 49}
    assert Metric.objects.filter(run=run).count() == 50
    assert Asset.objects.get(run=run, kind="artifact").size == 5
    started = run.workflow_snapshot and run.started_at
    assert (run.finished_at - started).total_seconds() < 1.0  # the original times, not the sync's
    times = list(Metric.objects.filter(run=run).values_list("created_at", flat=True))
    assert all(started <= t <= run.finished_at for t in times)  # metric points keep when they were logged


KILLED = """
import os, signal, sys, time
sys.path.insert(0, {src!r})
import molexp
with molexp.Client(url={url!r}, token={token!r}).start_run({exp!r}, create_experiment=True) as ctx:
    for i in range(20):
        ctx.log("train").append(f"line {{i}}")
        ctx.log_metric("loss", i, step=i)
    time.sleep(2.5)  # the background thread sends them
    print(ctx.id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_client_is_lost_then_failed(live_server, env, ws, project, editor_token, script_dir, settings):
    script = script_dir / "killed.py"
    script.write_text(KILLED.format(src=str(CLIENT_SRC), url=live_server.url, token=editor_token,
                                    exp=f"{ws.slug}/{project.slug}/killed"))  # fmt: skip
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MOLEXP_HEARTBEAT_SECONDS": "1"})  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run = Run.objects.get(pk=int(proc.stdout.split()[0]))
    assert run.status == "running"
    settings.MOLEXP_EXTERNAL_LOST_AFTER_SECONDS = 2
    assert services.execution_reap_stale()["lost"] == 0  # still within the window
    time.sleep(2.5)
    counts = services.execution_reap_stale()
    assert counts == {"lost": 1, "retried": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == "failed" and run.error["type"] == "ClientLost"
    assert [e.to_status for e in run.events.filter(execution__isnull=True)] == ["running", "lost", "failed"]
    assert Execution.objects.get(run=run).status == "lost"
    assert Metric.objects.filter(run=run).count() == 20  # nothing written before the kill is lost


def test_cancel_on_the_server_stops_the_script_at_its_next_write(
    live_server, env, ws, project, editor, editor_token, script_dir
):
    client = molexp.Client(url=live_server.url, token=editor_token)
    with pytest.raises(molexp.RunCancelled):
        with client.start_run(f"{ws.slug}/{project.slug}/cancel", create_experiment=True,
                              script=script_dir / "train.py") as ctx:  # fmt: skip
            ctx.log("train").append("started")
            services.run_cancel(user=editor, run=Run.objects.get(pk=ctx.id))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                ctx.log_metric("loss", 1.0)  # raises RunCancelled once the heartbeat brought the request
                time.sleep(0.05)
    run = Run.objects.get(pk=ctx.id)
    assert run.status == "cancelled" and run.executions.get().status == "cancelled"
    assert Asset.objects.get(run=run, kind="log").as_kind().line_count == 1


def test_big_bursts_are_split_under_the_request_limit(live_server, env, ws, project, editor_token, script_dir):
    """A burst larger than one request body (Django's 2.5 MB default) arrives whole, in several requests."""
    client = molexp.Client(url=live_server.url, token=editor_token)
    with client.start_run(f"{ws.slug}/{project.slug}/burst", create_experiment=True,
                          script=script_dir / "train.py") as ctx:  # fmt: skip
        for i in range(120_000):
            ctx.log_metric("loss", i * 0.5, step=i)
        for i in range(30_000):
            ctx.log("train").append(f"{i:06d} " + "x" * 120)
    run = Run.objects.get(pk=ctx.id)
    assert Metric.objects.filter(run=run).count() == 120_000
    assert Asset.objects.get(run=run, kind="log").as_kind().line_count == 30_000


def test_external_experiment_pages_and_launch(client, env, ws, project, editor, editor_token, script_dir, live_server):
    with molexp.Client(url=live_server.url, token=editor_token).start_run(
        f"{ws.slug}/{project.slug}/ext-pages", create_experiment=True, script=script_dir / "train.py"
    ) as ctx:
        ctx.set_result("acc", 1)
    run = Run.objects.get(pk=ctx.id)
    experiment = run.experiment
    assert experiment.workflow_source == ""
    client.force_login(editor)
    for url in (experiment.get_absolute_url(), run.get_absolute_url(), project.get_absolute_url(),
                f"/runs/{run.pk}/status/", f"/runs/{run.pk}/how-to/", f"/runs/{run.pk}/reproduce/panel/"):  # fmt: skip
        response = client.get(url)
        assert response.status_code in (200, 286), url  # 286: htmx "stop polling" (the run ended)
    html = client.get(experiment.get_absolute_url()).content.decode()
    assert "Launch runs" not in html and ">external</span>" in html
    api = molexp.Client(url=live_server.url, token=editor_token).http
    with pytest.raises(molexp.MolExpError) as info:
        api.post(f"/api/experiments/{experiment.pk}/launch/", json={"params": {}})
    assert info.value.status == 400 and "workflow" in str(info.value)


def test_flush_returns_once_the_server_has_everything(live_server, env, ws, project, editor_token, script_dir):
    client = molexp.Client(url=live_server.url, token=editor_token)
    with client.start_run(f"{ws.slug}/{project.slug}/flushed", create_experiment=True,
                          script=script_dir / "train.py") as ctx:  # fmt: skip
        log = ctx.log("train")
        for i in range(50_000):  # the background sender runs meanwhile: flush and it must not race
            log.append(f"line {i}")
            if i % 10_000 == 0:
                ctx.log_metric("loss", 1.0 / (i + 1), step=i)
        ctx.artifact.save("w.bin", b"x" * 1000)
        assert ctx.flush() is True
        run = Run.objects.get(pk=ctx.id)
        assert run.status == "running"
        log_asset = Asset.objects.get(run=run, kind="log", name="train")
        assert log_asset.line_count == 50_000
        assert services_assets.log_tail(asset=log_asset.as_kind(), max_lines=1) == ["line 49999"]
        assert Metric.objects.filter(run=run).count() == 5
        assert Asset.objects.filter(run=run, kind="artifact", name="w.bin").count() == 1
        assert list((ctx.spool / "files").iterdir()) == []  # the spooled copy went once the server had it
    assert Run.objects.get(pk=ctx.id).status == "succeeded"
    assert Asset.objects.get(run_id=ctx.id, kind="log").line_count == 50_000  # nothing sent twice


def test_artifact_upload_streams_in_patches_and_resumes_from_the_server_offset(
    live_server, env, ws, project, editor_token, script_dir, monkeypatch, tmp_path
):
    from molexp import _tus
    from molexp._http import Http

    monkeypatch.setattr(_tus, "PATCH_BYTES", 100_000)
    monkeypatch.setattr(_tus, "SEND_BLOCK", 30_000)
    data = os.urandom(250_000)
    client = molexp.Client(url=live_server.url, token=editor_token)
    with client.start_run(f"{ws.slug}/{project.slug}/tus", create_experiment=True,
                          script=script_dir / "train.py") as ctx:  # fmt: skip
        ctx.artifact.save("whole.bin", data)  # three PATCHes of at most 100 000 bytes
        assert ctx.flush() is True
        http = Http(live_server.url, editor_token)
        spooled = tmp_path / "part.bin"
        spooled.write_bytes(data)
        event = {"t": "artifact", "name": "resumed.bin", "file": str(spooled)}
        # a first attempt that stopped after 100 000 bytes: the event kept the upload's URL
        reply = http.request("POST", "/api/uploads/", raw=True, expect=(201,), headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
            "Upload-Metadata": _tus._metadata_header({"filename": "resumed.bin", "name": "resumed.bin", "run": str(ctx.id)}),
        })  # fmt: skip
        event["upload_url"] = f"{live_server.url}{reply.headers['Location']}"
        http.request("PATCH", event["upload_url"], expect=(204,), data=data[:100_000], headers={
            "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})  # fmt: skip
        _tus.tus_artifact(http, ctx.id, event)  # HEAD gives 100 000: only the rest is sent
        gone = {"t": "artifact", "name": "restarted.bin", "file": str(spooled),
                "upload_url": f"{live_server.url}/api/uploads/00000000-0000-0000-0000-000000000000/"}  # fmt: skip
        _tus.tus_artifact(http, ctx.id, gone)  # unknown to the server (404): a new upload
        assert gone["upload_url"] != f"{live_server.url}/api/uploads/00000000-0000-0000-0000-000000000000/"
    sha = hashlib.sha256(data).hexdigest()
    for name in ("whole.bin", "resumed.bin", "restarted.bin"):
        asset = Asset.objects.get(run_id=ctx.id, kind="artifact", name=name)  # one version each
        assert (asset.size, asset.sha256) == (len(data), sha)
    assert Upload.objects.filter(name="resumed.bin").count() == 1
