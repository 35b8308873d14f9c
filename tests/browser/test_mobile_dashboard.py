"""The dashboard on a phone (375 px, issue 14 item 7): no sideways scroll, even with long names."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from runs_app.choices import RunStatus
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def busy():
    user = f.UserFactory(username="scientist", password="correct horse battery")
    for i in range(3):
        ws = f.WorkspaceFactory(name=f"Computational chemistry laboratory number {i}", slug=f"lab-{i}")
        f.MembershipFactory(workspace=ws, user=user, role="owner")
        project = f.ProjectFactory(workspace=ws, name="Ligand screening against kinase targets")
        experiment = f.ExperimentFactory(project=project, name="Featurize with extended descriptors and long names")
        f.RunFactory(experiment=experiment, status=RunStatus.RUNNING, profile="full_scale_extended_descriptors")
        f.RunFactory(experiment=experiment, status=RunStatus.FAILED, profile="broken")
    return user


def test_the_dashboard_fits_a_phone(browser, live_server, busy):
    context = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "scientist")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#dashboard-running")).to_contain_text("Featurize with extended descriptors")
    width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    page.screenshot(path="/tmp/bench2-mobile-dashboard.png", full_page=True)
    assert width <= 375, f"the page scrolls sideways: {width} px wide"
    context.close()
