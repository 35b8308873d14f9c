"""The ``molexp`` command against a live server (SPEC §13): one-line errors, non-zero exits."""

from __future__ import annotations

import stat
import threading
import time

import pytest
from molexp import cli

from assets_app.models import Asset, Upload
from assets_app.services import data_asset_add_file
from runs_app.models import Run

from .test_client_live import env, molexp, script_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def logged_in(live_server, env, editor, monkeypatch, capsys):  # noqa: F811
    editor.set_password("pw-123456")
    editor.save()
    monkeypatch.setenv("MOLEXP_PASSWORD", "pw-123456")
    monkeypatch.delenv("MOLEXP_URL", raising=False)
    monkeypatch.delenv("MOLEXP_TOKEN", raising=False)
    assert cli.main(["--url", live_server.url, "login", "--username", "editor"]) == 0
    capsys.readouterr()
    return env / "config" / "credentials.json"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_login_writes_a_private_credentials_file_and_whoami(logged_in, capsys):
    assert stat.S_IMODE(logged_in.stat().st_mode) == 0o600
    assert _run(capsys, "whoami") == (0, "editor\n", "")


def test_errors_are_one_line_and_non_zero(live_server, env, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MOLEXP_TOKEN", "wrong")
    code, out, err = _run(capsys, "--url", live_server.url, "whoami")
    assert code == 1 and out == "" and err.count("\n") == 1 and "401" in err
    code, _, err = _run(capsys, "--url", "http://127.0.0.1:9", "runs", "list")
    assert code == 3 and err.count("\n") == 1
    code, _, err = _run(capsys, "--url", live_server.url, "runs", "show")
    assert code == 1 and err.count("\n") == 1


def test_search_download_upload(logged_in, capsys, ws, project, editor, tmp_path):
    source = tmp_path / "ligands.csv"
    source.write_text("smiles\nCCO\n")
    asset = data_asset_add_file(user=editor, path=source, name="ligands", workspace=ws)
    code, out, _ = _run(capsys, "search", "ligands")
    assert code == 0 and f"{asset.pk}\tdata\tligands" in out
    target = tmp_path / "got.csv"
    assert _run(capsys, "download", "ligands", "-o", str(target))[0] == 0
    assert target.read_text() == "smiles\nCCO\n"
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (5 * 1024 * 1024 + 123))
    code, out, err = _run(
        capsys, "upload", str(big), "--workspace", ws.slug, "--project", project.slug, "--name", "big"
    )
    assert code == 0 and "100.0%" in err and "asset" in out
    uploaded = Asset.objects.get(name="big")
    assert uploaded.size == big.stat().st_size and uploaded.project_id == project.pk
    assert Upload.objects.filter(asset=uploaded).count() == 1
    code, _, err = _run(capsys, "download", "no-such-asset")
    assert code == 1 and err.count("\n") == 1


def test_upload_resumes_an_interrupted_upload(logged_in, capsys, ws, tmp_path, env):  # noqa: F811
    import json

    from tusclient import client as tus_client
    from tusclient.storage.filestorage import FileStorage

    data = tmp_path / "resume.bin"
    data.write_bytes(b"y" * (9 * 1024 * 1024))
    creds = json.loads(logged_in.read_text())
    tus = tus_client.TusClient(f"{creds['url']}/api/uploads/", headers={"Authorization": f"Token {creds['token']}"})
    (env / "cache").mkdir(exist_ok=True)
    store = FileStorage(str(env / "cache" / "uploads.json"))
    first = tus.uploader(str(data), chunk_size=4 * 1024 * 1024, store_url=True, url_storage=store,
                         metadata={"filename": "resume.bin", "workspace": str(ws.pk)})  # fmt: skip
    first.upload_chunk()  # the first 4 MB, then the "connection drops"
    assert Upload.objects.get().offset == 4 * 1024 * 1024
    code, _, err = _run(capsys, "upload", str(data), "--workspace", ws.slug)
    assert code == 0 and "100.0%" in err
    assert Upload.objects.count() == 1 and Upload.objects.get().status == "complete"  # resumed, not restarted


def test_runs_list_show_and_sync(logged_in, capsys, ws, project, env, script_dir, live_server):  # noqa: F811
    offline = molexp.Client(offline=True)
    with offline.start_run(f"{ws.slug}/{project.slug}/cli-offline", create_experiment=True,
                           script=script_dir / "train.py") as ctx:  # fmt: skip
        ctx.log_metric("loss", 1.0, step=0)
    code, out, _ = _run(capsys, "sync")
    assert code == 0 and "synced" in out
    code, out, _ = _run(capsys, "sync", str(env / "offline"))
    assert code == 0 and "already synced" in out
    run = Run.objects.get()
    code, out, _ = _run(capsys, "runs", "list")
    assert code == 0 and f"{run.pk}\t#{run.number}\tsucceeded" in out
    code, out, _ = _run(capsys, "runs", "show", str(run.pk))
    assert code == 0 and '"trigger": "external"' in out


def test_launch_and_wait(logged_in, capsys, ws, project, editor, settings, tmp_path):
    from assets_app.services import asset_create, blob_store_bytes
    from runs_app.models import Execution
    from runs_app.services import execution_run, experiment_create
    from tests.runs_app.conftest import LIGANDS
    from tests.runs_app.workflow_fixtures import MOLCFG, WORKFLOW

    wf = tmp_path / "workflows"
    wf.mkdir()
    (wf / "chem.py").write_text(WORKFLOW)
    (wf / "molcfg.yaml").write_text(MOLCFG)
    settings.MOLEXP_WORKFLOW_DIRS = [str(wf)]
    settings.MOLEXP_WORK_DIR = tmp_path / "work"
    experiment_create(user=editor, project=project, name="Chem", workflow_source="chem.py")
    asset_create(kind="data", name="ligands.csv", project=project, blob=blob_store_bytes(LIGANDS))

    def worker() -> None:  # the worker's own service executes what the CLI queued
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            queued = Execution.objects.filter(status="queued").first()
            if queued is not None:
                execution_run(execution_id=queued.pk)
                return
            time.sleep(0.2)

    thread = threading.Thread(target=worker)
    thread.start()
    code, out, err = _run(capsys, "launch", f"{ws.slug}/{project.slug}/chem", "--override", "scale=2.0", "--wait")
    thread.join()
    run = Run.objects.get()
    assert code == 0, err
    assert out.splitlines()[-1] == f"run {run.pk} #{run.number} succeeded" and run.status == "succeeded"
    code, out, err = _run(capsys, "launch", f"{ws.slug}/{project.slug}/nope")
    assert code == 1 and err.count("\n") == 1 and "nope" in err
