"""A chart across the runs of a 2×2 sweep coloured by one key, and the run page's tabs (SPEC §15).

Screenshots go to /tmp/charts-*.png for a look."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from runs_app.models import Metric, Run
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
    for run in runs:  # the points a worker's ctx.log_metric writes
        limit = run.params["limit"]
        Metric.objects.bulk_create(
            [
                Metric(run=run, key="loss", step=s, value=1.0 / (1 + s * limit / 10) + run.params["top_n"] / 50)
                for s in range(300)
            ]
        )
    Run.objects.filter(pk__in=[r.pk for r in runs]).update(status="succeeded")
    failed = runs[0]
    Run.objects.filter(pk=failed.pk).update(
        status="failed", error={"type": "ValueError", "message": "bad molecule 3", "task": "featurize"}
    )
    return experiment, runs


def _login(page: Page, live_server) -> None:
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "scientist")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))


def test_a_sweep_charted_and_coloured_by_one_key(page: Page, live_server, sweep):
    _login(page, live_server)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/w/demo/p/ligands/e/sweep/")
    for box in page.locator("#runs-table tbody input[name=runs]").all():
        box.check()
    page.locator("#chart-selected").click()
    expect(page).to_have_url(re.compile(r"/e/sweep/charts/\?runs="))
    canvas = page.locator("#chart-line")
    expect(canvas).to_have_attribute("data-series", "4")
    page.select_option("#chart-color", "params.limit")
    expect(canvas).to_have_attribute("data-groups", "2")
    legend = page.locator("#chart-legend li")
    expect(legend).to_have_count(2)
    expect(legend.nth(0)).to_contain_text("params.limit = 2 (2)")
    expect(page).to_have_url(re.compile(r"color=params.limit"))
    page.check("#chart-log")
    page.locator("#chart-smooth").fill("0.6")
    expect(page.locator("#chart-parallel")).to_have_attribute("data-lines", "4")
    # The tooltip names the run: hover the middle of the plot.
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    page.screenshot(path="/tmp/charts-sweep.png", full_page=True)
    # Filtered instead of selected: the run conditions of the runs table.
    page.goto(f"{live_server.url}/w/demo/p/ligands/e/sweep/charts/?filter=params.limit=4&color=params.top_n&x=time")
    expect(page.locator("#chart-line")).to_have_attribute("data-series", "2")
    page.screenshot(path="/tmp/charts-time.png", full_page=True)
    page.goto(f"{live_server.url}/w/demo/p/ligands/e/sweep/charts/?filter=params.limit>>4")
    expect(page.locator("#chart-error")).to_be_visible()


def test_run_page_tabs_and_a_failed_run_shows_its_error_first(page: Page, live_server, sweep):
    experiment, runs = sweep
    _login(page, live_server)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}{runs[0].get_absolute_url()}")
    error = page.locator("#run-error-card")
    expect(error).to_contain_text("ValueError")
    expect(page.locator("#run-fix-path")).to_contain_text("clone it with overrides")
    # The error card comes before the tabs.
    assert page.evaluate(
        "document.getElementById('run-error-card').compareDocumentPosition(document.getElementById('run-tabs')) & 4"
    )
    page.screenshot(path="/tmp/charts-run-failed.png", full_page=True)
    expect(page.locator("#tab-overview")).to_be_visible()
    page.locator("#tab-metrics-btn").click()
    expect(page.locator("#tab-metrics")).to_be_visible()
    expect(page.locator("#metric-charts figure")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"#tab-metrics$"))
    page.screenshot(path="/tmp/charts-run-metrics.png", full_page=True)
    page.locator("#tab-logs-btn").click()
    expect(page.locator("#tab-logs")).to_be_visible()
    page.locator("#tab-assets-btn").click()
    expect(page.locator("#run-checkpoints")).to_be_visible()
    page.locator("#tab-provenance-btn").click()
    expect(page.locator("#tab-provenance")).to_contain_text("Merged config")
    # A link to a tab opens it.
    page.goto(f"{live_server.url}{runs[1].get_absolute_url()}#tab-provenance")
    expect(page.locator("#tab-provenance")).to_be_visible()
    expect(page.locator("#run-error-card")).to_have_count(0)
