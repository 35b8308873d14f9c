"""A scientist launches a 2x2 sweep and reads it in the experiment's runs table (SPEC §15): the two
varying keys as columns, the rest folded into "same for all", then filtered and sorted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from runs_app.services import experiment_create, project_create, run_launch, workspace_create
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(django_settings.BASE_DIR) / "examples"


@pytest.fixture
def sweep(settings):
    settings.MOLEXP_WORKFLOW_DIRS = [str(EXAMPLES / "workflows")]
    user = f.UserFactory(username="scientist", password="correct horse battery")
    workspace = workspace_create(user=user, name="Demo lab", slug="demo")
    project = project_create(user=user, workspace=workspace, name="Ligand screening", slug="ligands")
    experiment = experiment_create(
        user=user, project=project, name="Featurize sweep", slug="sweep", workflow_source="featurize.py"
    )
    runs = run_launch(user=user, experiment=experiment, profile="smoke", sweep={"limit": [2, 4], "top_n": [3, 5]})
    assert len(runs) == 4
    return runs


def _numbers(page: Page) -> list[str]:
    return [re.sub(r".*#", "", t) for t in page.locator("#runs-table tbody td:nth-child(2) a").all_inner_texts()]


def test_a_sweep_reads_at_a_glance_filtered_and_sorted(page: Page, live_server, sweep):
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "scientist")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))

    page.goto(f"{live_server.url}/w/demo/p/ligands/e/sweep/")
    headers = page.locator("#runs-table thead th[data-column]")
    expect(headers).to_have_count(2)
    expect(headers.nth(0)).to_contain_text("limit")
    expect(headers.nth(1)).to_contain_text("top_n")
    expect(page.locator("#run-table-constant")).to_contain_text("Same for all")
    expect(page.locator(".molexp-sweep-group")).to_contain_text("Launched together: 4 runs")
    expect(page.locator("#runs-table tbody td:nth-child(2) a").first).to_contain_text("Featurize sweep #")

    # Filter: only the cells with limit=4 (htmx swaps the table in place).
    page.fill("#run-condition-filter", "params.limit=4")
    page.locator("#run-condition-filter").press("Enter")
    expect(page.locator("#runs-table tbody td:nth-child(2) a")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"filter=params.limit"))
    expect(headers).to_have_count(1)  # limit is the same for all shown now: folded
    expect(page.locator("#run-table-constant")).to_contain_text("params.limit=4")

    # Sort by top_n on the server, then the other way. The header links are plain links in the
    # fragment htmx just swapped in: wait until that swap (and its URL push) has settled, so the
    # click lands on the new table, and give the full-page navigation time on a loaded machine.
    page.wait_for_load_state("networkidle")
    with page.expect_navigation(timeout=20_000):
        page.locator("#runs-table thead th[data-column='params.top_n'] a").click()
    expect(page).to_have_url(re.compile(r"sort=params.top_n"))
    cells = page.locator("#runs-table tbody td:nth-child(5)")
    expect(cells).to_have_text(["3", "5"])
    with page.expect_navigation(timeout=20_000):
        page.locator("#runs-table thead th[data-column='params.top_n'] a").click()
    expect(page).to_have_url(re.compile(r"sort=-params.top_n"))
    expect(page.locator("#runs-table tbody td:nth-child(5)")).to_have_text(["5", "3"])
    expect(page.locator("#runs-table tbody td:nth-child(2) a")).to_have_count(2)  # the filter stayed

    # A malformed condition: an error and no rows.
    page.fill("#run-condition-filter", "params.limit>>4")
    page.locator("#run-condition-filter").press("Enter")
    expect(page.locator("#run-table-error")).to_be_visible()
    expect(page.locator("#runs-table tbody td:nth-child(2) a")).to_have_count(0)
