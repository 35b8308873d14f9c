"""A scientist follows a failure to its fix (issue 14 item 8): the failed run's error card links to
"from failure to fix", which says nothing fixed it yet; they launch again (an override typo is
warned about, "did you mean …?", and launching still works), the new run succeeds, and the same
page — reached this time from the catalog's error-trace group — names the fix and what differed.

Runs execute in the test process (the worker's task body), against the live server's database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from assets_app.services import data_asset_add_file
from runs_app.models import Execution, Run
from runs_app.services import experiment_create, project_create, run_launch, workspace_create
from runs_app.tasks import execution_run_task
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(django_settings.BASE_DIR) / "examples"
SHOTS = Path("/tmp")


def _execute(run: Run) -> str:
    return execution_run_task.run(execution_id=Execution.objects.get(run=run, number=1).pk)


@pytest.fixture
def failed(settings, monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)
    settings.MOLEXP_WORKFLOW_DIRS = [str(EXAMPLES / "workflows")]
    user = f.UserFactory(username="scientist", password="correct horse battery")
    workspace = workspace_create(user=user, name="Demo lab", slug="demo")
    project = project_create(user=user, workspace=workspace, name="Ligand screening", slug="ligands")
    data_asset_add_file(user=user, path=EXAMPLES / "data" / "ligands.csv", workspace=workspace)
    experiment = experiment_create(
        user=user, project=project, name="Featurize baseline", slug="baseline", workflow_source="featurize.py"
    )
    [run] = run_launch(user=user, experiment=experiment, profile="broken")
    assert _execute(run) == "failed"
    return run


def test_a_failure_followed_to_its_fix(page: Page, live_server, failed):
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "scientist")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))

    # The failed run: its error card (loaded by htmx) links to the failure-to-fix page.
    page.goto(f"{live_server.url}/w/demo/p/ligands/e/baseline/runs/1/")
    link = page.locator("#run-error-card #run-fix-link")
    expect(link).to_be_visible()
    page.screenshot(path=str(SHOTS / "bench2-fix-1-error-card.png"), full_page=True)
    link.click()
    expect(page).to_have_url(re.compile(r"/e/baseline/runs/1/fix/$"))
    expect(page.locator("#fix-none")).to_contain_text("No later run of Featurize baseline has succeeded yet")

    # Launch again with the smoke profile and a mistyped override: warned, not refused.
    page.goto(f"{live_server.url}/w/demo/p/ligands/e/baseline/launch/")
    page.select_option("select[name=profile]", "smoke")
    page.fill("textarea[name=overrides]", "top_nn=2")
    expect(page.locator("#preview-warnings")).to_contain_text("Did you mean 'top_n'?")
    page.screenshot(path=str(SHOTS / "bench2-fix-2-launch-warning.png"), full_page=True)
    page.get_by_role("button", name="Launch", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs/2/$"))
    expect(page.locator(".alert-warning, .alert")).to_contain_text(["Did you mean 'top_n'?"])
    fix = Run.objects.get(experiment=failed.experiment, number=2)
    assert fix.config["top_nn"] == 2 and _execute(fix) == "succeeded"
    # The run page polls its status and reloads itself (HX-Refresh) once the run has ended; let that
    # happen before leaving, or the reload can abort the next navigation (net::ERR_ABORTED).
    expect(page.locator("#run-status")).to_contain_text(re.compile("succeeded", re.I), timeout=30_000)
    page.wait_for_load_state("load")

    # From the catalog's error-trace group, one click to the same page, now naming the fix.
    page.goto(f"{live_server.url}/catalog/?q=kind%3Aerror_trace")
    group_link = page.locator("#trace-groups a.molexp-trace-fix")
    expect(group_link).to_have_text("from Featurize baseline #1 to its fix")
    group_link.click()
    expect(page).to_have_url(re.compile(r"/e/baseline/runs/1/fix/$"))
    expect(page.locator("#fix-run")).to_have_text("Featurize baseline #2")
    expect(page.locator("#fix-summary")).to_contain_text("was fixed by")
    config = page.locator("#fix-config-diff tbody tr")
    expect(page.locator("#fix-config-diff tr[data-key='fail_after']")).to_have_attribute("data-status", "differs")
    expect(page.locator("#fix-config-diff tr[data-key='top_nn']")).to_have_attribute("data-status", "partial")
    assert config.count() == 2  # smoke and broken differ only in fail_after, plus the override
    expect(page.locator("#fix-profile-diff tr[data-key='profile']")).to_contain_text("smoke")
    expect(page.locator("#fix-code")).to_contain_text("identical")
    page.screenshot(path=str(SHOTS / "bench2-fix-3-fix-page.png"), full_page=True)

    # The full comparison is one click further, named by experiment and numbers (no database ids).
    page.get_by_role("link", name="Full comparison").click()
    expect(page).to_have_url(re.compile(r"/compare/\?runs=demo/ligands/baseline:1,2$"))
    expect(page.locator("#compare-runs")).to_contain_text("Featurize baseline")
