"""Asset content: downloads are permission-checked attachments that a browser never renders;
the asset page previews text/JSON/CSV (capped, escaped), tails logs and shows checkpoint data and tracebacks."""

from __future__ import annotations

import pytest

from assets_app.selectors import PREVIEW_MAX_BYTES
from assets_app.services import asset_create, blob_store_bytes, log_append_lines, log_open
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(tmp_path, settings):
    """A private media directory, so that stored bytes never touch a shared var dir."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return tmp_path / "media"


def _asset(project, name: str, data: bytes, media_type: str = "", kind: str = "artifact"):
    return asset_create(kind=kind, name=name, project=project, blob=blob_store_bytes(data), media_type=media_type)


def test_download_is_an_attachment_with_nosniff_and_a_sandbox_csp(web_client_for, media, project):
    asset = _asset(project, "features.json", b'{"a": 1}', "application/json")
    response = web_client_for("viewer").get(f"/assets/{asset.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert 'filename="features.json"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert b"".join(response.streaming_content) == b'{"a": 1}'


@pytest.mark.parametrize("media_type", ["text/html", "image/svg+xml", ""])
def test_active_content_is_served_as_opaque_bytes(web_client_for, media, project, media_type):
    asset = _asset(project, "page.html", b"<script>alert(1)</script>", media_type)
    response = web_client_for("editor").get(f"/assets/{asset.pk}/download/")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Security-Policy"] == "sandbox"


@pytest.mark.parametrize(("role", "expected"), [("owner", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 302)])
def test_download_permissions(web_client_for, users, media, project, role, expected):
    asset = _asset(project, "ligands.csv", b"name\nx\n", "text/csv")
    assert web_client_for(role).get(f"/assets/{asset.pk}/download/").status_code == expected


def test_download_of_an_asset_without_a_file_is_404(web_client_for, media, ws):
    asset = f.AssetFactory(workspace=ws)  # a catalog row with no stored bytes
    assert web_client_for("owner").get(f"/assets/{asset.pk}/download/").status_code == 404


def test_download_refuses_post(web_client_for, media, project):
    asset = _asset(project, "a.txt", b"x", "text/plain")
    assert web_client_for("owner").post(f"/assets/{asset.pk}/download/").status_code == 405


def test_csv_preview_is_a_table(web_client_for, media, project):
    asset = _asset(project, "ligands.csv", b"name,smiles\naspirin,CC(=O)O\ncaffeine,CN1C\n", "text/csv")
    body = web_client_for("viewer").get(f"/assets/{asset.pk}/").content.decode()
    assert 'id="asset-preview"' in body
    assert "<th>smiles</th>" in body and "<td>caffeine</td>" in body
    assert f'href="/assets/{asset.pk}/download/"' in body


def test_json_preview_is_pretty_printed(web_client_for, media, project):
    asset = _asset(project, "features.json", b'{"b":[1,2],"a":"x"}', "application/json")
    body = web_client_for("viewer").get(f"/assets/{asset.pk}/").content.decode()
    assert "&quot;b&quot;: [\n    1," in body


def test_text_preview_is_escaped_never_html(web_client_for, media, project):
    asset = _asset(project, "notes.txt", b"<script>alert('x')</script>\n<b>bold</b>\n", "text/plain")
    body = web_client_for("viewer").get(f"/assets/{asset.pk}/").content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert "<script>alert" not in body and "<b>bold</b>" not in body


def test_preview_is_capped_at_64_kib(web_client_for, media, project):
    line = b"0123456789abcdef" * 4 + b"\n"  # 65 bytes a line
    data = line * (2 * PREVIEW_MAX_BYTES // len(line)) + b"THE-END\n"
    asset = _asset(project, "big.txt", data, "text/plain")
    response = web_client_for("viewer").get(f"/assets/{asset.pk}/")
    body = response.content.decode()
    preview = response.context["preview"]
    assert preview["truncated"] is True
    assert len(preview["text"].encode()) <= PREVIEW_MAX_BYTES
    assert preview["text"].endswith("0123456789abcdef")  # cut at a line end, never mid-line
    assert "THE-END" not in body and "Preview cut at 64.0" in body


def test_binary_assets_have_no_preview(web_client_for, media, project):
    asset = _asset(project, "model.bin", b"\x00\x01\x02", "application/octet-stream")
    response = web_client_for("viewer").get(f"/assets/{asset.pk}/")
    assert response.context["preview"] is None and 'id="asset-preview"' not in response.content.decode()


def test_log_page_tails_the_log(web_client_for, media, experiment):
    run = f.RunFactory(experiment=experiment)
    log = log_open(run=run, execution=None, name="train")
    log_append_lines(asset=log, lines=[f"line {i}" for i in range(500)])
    body = web_client_for("viewer").get(f"/assets/{log.pk}/").content.decode()
    assert 'id="asset-log-tail"' in body
    assert "line 499" in body and "line 300\n" in body and "line 299\n" not in body  # the last 200 lines


def test_checkpoint_page_shows_its_data(web_client_for, media, experiment):
    from assets_app.services import checkpoint_create

    run = f.RunFactory(experiment=experiment)
    ckpt = checkpoint_create(run=run, execution=None, task="train", name="ckpt", data={"epoch": 7, "loss": 0.25})
    body = web_client_for("viewer").get(f"/assets/{ckpt.pk}/").content.decode()
    assert "Checkpoint data" in body and "&quot;epoch&quot;: 7" in body


def test_error_trace_page_shows_the_traceback(web_client_for, media, experiment):
    from assets_app.services import error_trace_create

    run = f.RunFactory(experiment=experiment)
    execution = f.ExecutionFactory(run=run, number=1)
    trace = error_trace_create(
        run=run, execution=execution, task="featurize", exception_type="RuntimeError", message="boom <b>",
        traceback_text="Traceback (most recent call last):\n  File \"chem.py\", line 3\nRuntimeError: boom <b>\n",
        frames=[("chem.py", "featurize")],
    )  # fmt: skip
    body = web_client_for("viewer").get(f"/assets/{trace.pk}/").content.decode()
    assert "Traceback (most recent call last)" in body and "RuntimeError: boom &lt;b&gt;" in body
