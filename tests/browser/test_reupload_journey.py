"""The same file uploaded twice on the upload page (issue 14 item 7): the second time the page says
it is already stored as that version, and no new version is made."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from assets_app.models import DataAsset

from .test_upload_journey import CSV, lab, media  # noqa: F401 - shared fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _upload(page: Page, base: str, text: str) -> None:
    page.goto(f"{base}/w/demo/")
    page.get_by_role("link", name="Upload data").click()
    expect(page).to_have_url(re.compile(r"/uploads/new/\?workspace="))
    page.wait_for_load_state("load")  # the page's script listens for the file input's change
    page.set_input_files("#upload-file", files=[{"name": "ligands.csv", "mimeType": "text/csv",
                                                  "buffer": text.encode()}])  # fmt: skip
    expect(page.locator("#upload-file-label")).to_contain_text("ligands.csv")
    page.get_by_role("button", name="Start upload").click()
    expect(page.locator("#upload-progress-bar")).to_have_text("100%")
    expect(page.locator("#upload-asset-link")).to_be_visible()


def test_an_identical_reupload_says_already_stored(page: Page, live_server, lab):  # noqa: F811
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "scientist")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))

    _upload(page, live_server.url, CSV.decode())
    expect(page.locator("#upload-status")).to_contain_text("registered as v1")
    _upload(page, live_server.url, CSV.decode() + "CCN,3\n")
    expect(page.locator("#upload-status")).to_contain_text("registered as v2")
    _upload(page, live_server.url, CSV.decode() + "CCN,3\n")
    expect(page.locator("#upload-status")).to_contain_text("already stored as v2 (no new version made)")
    expect(page.locator("#upload-asset-link")).to_have_text("Open the stored version v2")
    page.screenshot(path="/tmp/bench2-reupload.png", full_page=False)
    assert sorted(DataAsset.objects.values_list("version", flat=True)) == [1, 2]
