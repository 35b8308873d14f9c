"""The 2x2 sweep of ``test_workbench_journey`` (one launch request, one ``sweep_id``): grouped as one
launch, two cells picked in the table and compared, the comparison's URL naming the runs by
experiment and number, never by database id (SPEC §15, one run identity)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .test_workbench_journey import sweep  # noqa: F401 - the shared fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sweep_cells_compared_by_name(page: Page, live_server, sweep):  # noqa: F811
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "scientist")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))

    page.goto(f"{live_server.url}/w/demo/p/ligands/e/sweep/?sort=params.limit")
    expect(page.locator(".molexp-sweep-group")).to_have_count(1)
    expect(page.locator(".molexp-sweep-group")).to_contain_text("Launched together: 4 runs")
    expect(page.locator("#runs-table thead th[data-column]")).to_have_count(2)
    page.screenshot(path="/tmp/bench2-sweep-table.png", full_page=True)

    boxes = page.locator("#runs-table tbody input[name=runs]")
    expect(boxes).to_have_count(4)
    boxes.nth(0).check()
    boxes.nth(3).check()
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("Compare selected")).click()
    assert "/compare/?runs=demo%2Fligands%2Fsweep%3A" in page.url, page.url
    ids = {str(r.pk) for r in sweep}
    assert not any(f"runs={pk}" in page.url for pk in ids)
    share = page.locator("a", has_text=re.compile(r"^/compare/\?runs="))
    expect(share).to_have_text(re.compile(r"^/compare/\?runs=demo/ligands/sweep:\d+,\d+$"))
    expect(page.locator("#params-diff tr[data-key='limit']")).to_have_attribute("data-status", "differs")
    expect(page.locator("#params-diff tr[data-key='top_n']")).to_have_attribute("data-status", "differs")
    page.screenshot(path="/tmp/bench2-sweep-compare.png", full_page=False)
