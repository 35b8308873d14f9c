"""A scientist uploads a CSV on the upload page (tus-js-client), watches it reach 100 % and opens the new asset."""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.sync_api import Page, expect

from assets_app.models import DataAsset, Upload
from runs_app.services import project_create, workspace_create
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CSV = b"smiles,heavy_atoms\n" + b"".join(f"C{'C' * (i % 7)}O,{i % 9}\n".encode() for i in range(400))


@pytest.fixture
def media(settings, tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


@pytest.fixture
def lab(media):
    user = f.UserFactory(username="scientist", password="correct horse battery")
    workspace = workspace_create(user=user, name="Demo lab", slug="demo")
    project = project_create(user=user, workspace=workspace, name="Ligand screening", slug="ligands")
    return workspace, project


def test_drop_a_file_watch_progress_and_open_the_asset(page: Page, live_server, lab, tmp_path):
    workspace, project = lab
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "scientist")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))

    page.goto(f"{live_server.url}/w/demo/")
    page.get_by_role("link", name="Upload data").click()
    expect(page).to_have_url(re.compile(r"/uploads/new/\?workspace="))
    # the drop handlers are attached by the script at the end of the page, after tus.min.js: the
    # form above it is usable earlier, so wait for the scripts (CI saw the drop land before them)
    page.wait_for_load_state("load")
    page.select_option("#upload-project", str(project.pk))
    page.fill("#upload-tags", "screening, raw")
    # drag and drop: a real drop event carrying the file, as a browser delivers it
    transfer = page.evaluate_handle(
        """(text) => { const dt = new DataTransfer();
            dt.items.add(new File([text], "ligands.csv", {type: "text/csv"})); return dt; }""",
        CSV.decode(),
    )
    page.dispatch_event("#drop-zone", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    expect(page.locator("#upload-file-label")).to_contain_text("ligands.csv")
    page.get_by_role("button", name="Start upload").click()

    expect(page.locator("#upload-progress-bar")).to_have_text("100%")
    link = page.locator("#upload-asset-link")
    expect(link).to_be_visible()
    asset = DataAsset.objects.get()
    assert asset.sha256 == hashlib.sha256(CSV).hexdigest() and asset.size == len(CSV)
    assert (asset.project_id, asset.tags, asset.import_action) == (project.pk, ["screening", "raw"], "upload")
    assert Upload.objects.get().status == "complete"

    # find it with the search box (live results) and open its preview
    page.goto(f"{live_server.url}/catalog/")
    page.fill("#catalog-q", "ligands tag:screening kind:data")
    result = page.locator("#catalog-results").get_by_role("link", name=re.compile(r"^ligands\.csv"))
    expect(result.first).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=ligands"))
    result.first.click()
    expect(page).to_have_url(re.compile(rf"/assets/{asset.pk}/$"))
    expect(page.locator("#asset-preview")).to_contain_text("heavy_atoms")
    expect(page.locator("#asset-preview")).to_contain_text("CCO")
