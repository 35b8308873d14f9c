"""Export/import endpoints, pages and commands: the permission matrix and the read-only imported record."""

import io
import zipfile

import pytest
from django.core.management import call_command

from assets_app.models import Asset
from runs_app.models import Run
from runs_app.policy import imported_refusal_message

from . import crate_support as cs
from .crate_support import export_bytes

_no_broker, chem_experiment, workflow_dir = cs._no_broker, cs.chem_experiment, cs.workflow_dir
finished_run, failed_run = cs.finished_run, cs.failed_run

pytestmark = pytest.mark.django_db(transaction=True)

EXPORT = {"owner": 200, "editor": 200, "viewer": 200, "outsider": 404, "anonymous": (401, 403)}
IMPORT = {"owner": 201, "editor": 201, "viewer": 403, "outsider": 404, "anonymous": (401, 403)}


def _ok(code, expected) -> bool:
    return code in expected if isinstance(expected, tuple) else code == expected


@pytest.mark.parametrize("role", sorted(EXPORT))
def test_api_export_permissions(role, finished_run, api_client_for):
    response = api_client_for(role).get(f"/api/runs/{finished_run.pk}/export/?inputs=reference")
    assert _ok(response.status_code, EXPORT[role]), (role, response.status_code)
    if response.status_code == 200:
        assert response["Content-Type"] == "application/zip"
        assert (
            "attachment" in response["Content-Disposition"]
            and "chem-run-1.crate.zip" in response["Content-Disposition"]
        )
        with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as zf:
            assert "ro-crate-metadata.json" in zf.namelist()
            assert not any(n.startswith("inputs/") for n in zf.namelist())


def test_api_export_rejects_unknown_inputs_mode(finished_run, api_client_for):
    assert api_client_for("viewer").get(f"/api/runs/{finished_run.pk}/export/?inputs=maybe").status_code == 400


@pytest.mark.parametrize("role", sorted(IMPORT))
def test_api_import_permissions(role, finished_run, viewer, ws, api_client_for):
    crate = export_bytes(finished_run, viewer)
    before = Run.objects.count()
    response = api_client_for(role).post(f"/api/workspaces/{ws.pk}/import/", {"file": io.BytesIO(crate)},
                                         format="multipart")  # fmt: skip
    assert _ok(response.status_code, IMPORT[role]), (role, response.status_code, response.content)
    if response.status_code == 201:
        run = Run.objects.get(pk=response.json()["run"])
        assert (
            run.imported and run.workspace == ws and response.json()["assets"] == Asset.objects.filter(run=run).count()
        )
    else:
        assert Run.objects.count() == before


def test_api_control_of_an_imported_run_is_409(failed_run, viewer, other_ws, api_client_for):
    client = api_client_for("outsider")
    crate = export_bytes(failed_run, viewer)
    run_id = client.post(f"/api/workspaces/{other_ws.pk}/import/", {"file": io.BytesIO(crate)},
                         format="multipart").json()["run"]  # fmt: skip
    imported = Run.objects.select_related("experiment").get(pk=run_id)
    number, experiment = imported.number, imported.experiment.name
    runs_before = Run.objects.count()
    for action in ("cancel", "rerun", "resume", "clone", "reproduce"):
        response = client.post(f"/api/runs/{run_id}/{action}/", {}, format="json")
        assert response.status_code == 409, (action, response.content)
        assert response.json()["detail"] == imported_refusal_message(number=number, experiment=experiment)
        assert response.json()["detail"].startswith("imported runs are read-only")
    assert Run.objects.count() == runs_before


def test_api_import_without_a_file_is_400(ws, api_client_for):
    assert api_client_for("editor").post(f"/api/workspaces/{ws.pk}/import/", {}, format="multipart").status_code == 400


def test_run_page_has_export_button_and_imported_badge(finished_run, viewer, other_ws, web_client_for):
    page = web_client_for("viewer").get(finished_run.get_absolute_url())
    assert b"Export (RO-Crate)" in page.content and b">Imported<" not in page.content
    client = web_client_for("outsider")
    upload = io.BytesIO(export_bytes(finished_run, viewer))
    upload.name = "chem-run-1.crate.zip"
    response = client.post(f"/w/{other_ws.slug}/import/", {"file": upload})
    assert response.status_code == 302
    imported = Run.objects.get(workspace=other_ws)
    assert response["Location"] == imported.get_absolute_url()
    page = client.get(imported.get_absolute_url())
    assert b">Imported<" in page.content and imported.imported["crate"] == "chem-run-1.crate.zip"


def test_page_export_streams_a_zip(finished_run, web_client_for):
    response = web_client_for("viewer").get(f"/runs/{finished_run.pk}/export/?inputs=include")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert web_client_for("outsider").get(f"/runs/{finished_run.pk}/export/").status_code == 404


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("editor", 200), ("viewer", 403), ("outsider", 404)])
def test_import_page_permissions(role, status, ws, web_client_for):
    assert web_client_for(role).get(f"/w/{ws.slug}/import/").status_code == status


def test_import_page_shows_a_refused_crate(ws, web_client_for):
    upload = io.BytesIO(b"not a zip")
    upload.name = "bad.zip"
    response = web_client_for("editor").post(f"/w/{ws.slug}/import/", {"file": upload})
    assert response.status_code == 400 and b"Refused crate" in response.content


def test_commands_round_trip(finished_run, owner, other_ws, tmp_path):
    out = tmp_path / "crate.zip"
    call_command("export_run", str(finished_run.pk), "--out", str(out), "--inputs", "reference", "--user", "owner")
    assert zipfile.is_zipfile(out)
    from runs_app.models import Membership

    Membership.objects.create(workspace=other_ws, user=owner, role="editor")
    call_command("import_crate", str(out), "--workspace", other_ws.slug, "--user", "owner")
    run = Run.objects.get(workspace=other_ws)
    assert run.imported["inputs"] == "reference" and run.config_hash == finished_run.config_hash
