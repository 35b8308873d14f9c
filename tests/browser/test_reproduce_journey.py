"""A scientist opens a finished run, presses Reproduce, and waits for the verdict "reproduced"."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from assets_app.services import data_asset_add_file
from runs_app.choices import RunStatus
from runs_app.models import Run
from runs_app.services import experiment_create, project_create, run_launch, workspace_create
from tests import factories as f

from .conftest import wait_until

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
    return user, experiment


def test_open_run_press_reproduce_and_see_the_verdict(page: Page, live_server, demo, celery_worker):
    user, experiment = demo
    worker = celery_worker(env={"MOLEXP_WORKFLOW_DIRS": os.pathsep.join(django_settings.MOLEXP_WORKFLOW_DIRS)})
    [run] = run_launch(user=user, experiment=experiment, profile="smoke")
    assert wait_until(lambda: Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED, timeout=60), worker.log_tail()
    page.set_default_timeout(20_000)

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "scientist")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))

    page.goto(f"{live_server.url}/w/demo/p/ligands/e/featurize-baseline/runs/1/")
    expect(page.locator("#run-how-to")).to_contain_text("python manage.py launch demo/ligands/featurize-baseline")
    page.get_by_role("button", name="Reproduce", exact=True).click()

    expect(page).to_have_url(re.compile(r"/runs/2/$"))
    copy = Run.objects.get(experiment=experiment, number=2)
    assert copy.reproduction_of_id == run.pk
    expect(page.locator("#verdict-summary")).to_contain_text("reproduced:", timeout=90_000)
    expect(page.locator("#verdict-summary")).to_contain_text("artifacts identical")
    assert Run.objects.get(pk=copy.pk).verdict["reproduced"] is True

    page.goto(f"{live_server.url}/w/demo/p/ligands/e/featurize-baseline/runs/1/")
    expect(page.locator("#run-reproductions")).to_contain_text("reproduced")
