"""A scientist logs in, launches the demo workflow with an override, watches it succeed, opens a log and an artifact."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from assets_app.services import data_asset_add_file
from runs_app.models import Run
from runs_app.services import experiment_create, project_create, workspace_create
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(django_settings.BASE_DIR) / "examples"


@pytest.fixture
def demo(settings):
    settings.MOLEXP_WORKFLOW_DIRS = [str(EXAMPLES / "workflows")]
    user = f.UserFactory(username="scientist", password="correct horse battery")
    workspace = workspace_create(user=user, name="Demo lab", slug="demo")
    project = project_create(user=user, workspace=workspace, name="Ligand screening", slug="ligands")
    data_asset_add_file(user=user, path=EXAMPLES / "data" / "ligands.csv", workspace=workspace)
    experiment = experiment_create(
        user=user, project=project, name="Featurize baseline", slug="featurize-baseline", workflow_source="featurize.py"
    )
    return experiment


def test_launch_watch_and_open_log_and_artifact(page: Page, live_server, demo, celery_worker):
    celery_worker(env={"MOLEXP_WORKFLOW_DIRS": os.pathsep.join(django_settings.MOLEXP_WORKFLOW_DIRS)})
    page.set_default_timeout(20_000)

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "scientist")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))

    page.goto(f"{live_server.url}/w/demo/p/ligands/e/featurize-baseline/")
    page.get_by_role("link", name="Launch runs…").click()
    page.select_option("select[name=profile]", "smoke")
    page.fill("textarea[name=overrides]", "top_n=2")
    page.get_by_role("button", name="Launch", exact=True).click()

    expect(page).to_have_url(re.compile(r"/runs/1/$"))
    run = Run.objects.get(experiment=demo, number=1)
    assert run.config["top_n"] == 2 and run.profile == "smoke"
    expect(page.locator("body")).to_contain_text("succeeded", timeout=60_000)
    assert Run.objects.get(pk=run.pk).status == "succeeded"

    # the log tail on the run page (Logs tab): pick the featurize log
    page.get_by_role("tab", name="Logs").click()
    option = page.locator("select[name=log] option", has_text=re.compile(r"^featurize \("))
    page.select_option("select[name=log]", option.get_attribute("value"))
    expect(page.locator("#log-tail")).to_contain_text("descriptor set 'basic'", timeout=20_000)

    # an artifact (Assets tab): open summary.json from the produced assets and see its preview
    page.get_by_role("tab", name="Assets").click()
    page.get_by_role("link", name=re.compile(r"^summary\.json")).first.click()
    expect(page.locator("body")).to_contain_text("mean_heavy_atoms")
    expect(page.get_by_role("link", name=re.compile("Download", re.I)).first).to_be_visible()
