"""The main pages work in real Chromium under the Content-Security-Policy, with no violation.

Issue 12, finding 1: every HTML page sends a nonce-based policy (molexp_site/csp.py). This
journey signs in and opens the dashboard, the experiment page (server-drawn task graph), a run
page (Chart.js metric charts, htmx polling fragments), the comparison page (Chart.js
overlays), the catalog (an htmx search), the upload, token, invitations and members pages, the
browsable API, the API docs (Swagger UI) and the admin, recording every ``securitypolicyviolation`` event and every
console error; it asserts that the libraries did their work and that nothing was refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from runs_app.choices import RunStatus
from runs_app.services import experiment_create, project_create, workspace_create
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(django_settings.BASE_DIR) / "examples"
PASSWORD = "correct horse battery"

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push([e.violatedDirective, e.blockedURI || "inline", e.sourceFile + ":" + e.lineNumber + ":" + e.columnNumber, e.sample].join(" "));
});
"""


@pytest.fixture
def lab(settings):
    settings.MOLEXP_WORKFLOW_DIRS = [str(EXAMPLES / "workflows")]
    user = f.UserFactory(username="scientist", password=PASSWORD, is_staff=True, is_superuser=True)
    workspace = workspace_create(user=user, name="Demo lab", slug="demo")
    project = project_create(user=user, workspace=workspace, name="Ligand screening", slug="ligands")
    experiment = experiment_create(
        user=user, project=project, name="Featurize baseline", slug="featurize-baseline", workflow_source="featurize.py"
    )
    runs = []
    for number in (1, 2):
        run = f.RunFactory(experiment=experiment, number=number, status=RunStatus.SUCCEEDED)
        for step in range(20):
            f.MetricFactory(run=run, key="loss", step=step, value=1.0 / (step + number))
        runs.append(run)
    experiment.run_counter = 2
    experiment.save(update_fields=["run_counter"])
    return user, experiment, runs


@pytest.fixture
def watched(page: Page):
    """The page, with CSP violations and console errors recorded from the first script on."""
    errors: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.set_default_timeout(20_000)
    return page, errors


def _no_violations(page: Page, errors: list[str], where: str) -> None:
    page.wait_for_timeout(300)  # reports are dispatched asynchronously
    violations = page.evaluate("window.__csp")
    assert violations == [], f"{where}: CSP violations {violations}"
    csp_errors = [e for e in errors if "Content Security Policy" in e or "Refused to" in e]
    assert csp_errors == [], f"{where}: {csp_errors}"
    assert [e for e in errors if e.startswith("page error")] == [], f"{where}: {errors}"


def test_main_pages_work_under_the_policy_without_violations(watched, live_server, lab):
    page, errors = watched
    user, experiment, runs = lab
    base = live_server.url
    exp_url = f"{base}/w/demo/p/ligands/e/featurize-baseline/"

    response = page.goto(f"{base}/accounts/login/")
    assert "nonce-" in response.headers["content-security-policy"]
    page.fill("input[name=username]", "scientist")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))
    _no_violations(page, errors, "dashboard")

    # Experiment page: the task graph is an SVG drawn by the server (no 2.7 MB script), styled by molexp.css.
    page.goto(exp_url)
    expect(page.locator("#task-graph svg")).to_be_visible()
    expect(page.locator("#task-graph svg .molexp-tg-node").first).to_be_visible()
    assert page.locator("#task-graph svg .molexp-tg-edge").count() >= 1
    assert (
        page.evaluate("getComputedStyle(document.querySelector('#task-graph .molexp-tg-node rect')).fill")
        != "rgb(0, 0, 0)"
    ), "molexp.css did not style the graph"
    # htmx: the data library fragment loaded on page load.
    expect(page.locator("#data-library-tab")).not_to_contain_text("Open the experiment data library")
    _no_violations(page, errors, "experiment page")

    # Run page: Chart.js draws the metric chart from the JSON endpoint.
    page.goto(f"{exp_url}runs/1/")
    expect(page.locator("#metric-charts canvas")).to_have_count(1)
    expect(page.locator("#metric-charts figcaption")).to_contain_text("loss")
    assert page.evaluate("window.Chart && Object.keys(window.Chart.instances).length") == 1
    _no_violations(page, errors, "run page")

    # Comparison: Chart.js overlays of both runs.
    page.goto(f"{base}/compare/?runs={runs[0].pk},{runs[1].pk}")
    expect(page.locator("#compare-charts canvas")).to_have_count(1)
    _no_violations(page, errors, "compare page")

    # Charts across runs: Chart.js lines and the canvas parallel coordinates from static files.
    page.goto(f"{exp_url}charts/?key=loss")
    expect(page.locator("#chart-line")).to_have_attribute("data-series", re.compile(r"^[1-9]"))
    _no_violations(page, errors, "charts page")

    # Catalog: an htmx search swaps the results in place.
    page.goto(f"{base}/catalog/")
    page.fill("#catalog-q", "kind:data")
    expect(page).to_have_url(re.compile(r"/catalog/\?.*q=kind%3Adata"))  # pushed by htmx after the swap
    expect(page.locator("#catalog-results")).to_be_visible()
    _no_violations(page, errors, "catalog")

    pages = (
        "/uploads/new/",
        "/account/token/",
        "/account/invitations/",
        "/w/demo/members/",
        "/admin/",
        "/admin/auth/user/",
    )
    for path in (*pages, "/api/runs/", f"/api/experiments/{experiment.pk}/"):  # with DRF's browsable pages
        page.goto(base + path)
        if path.startswith("/api/"):
            expect(page.locator(".response-info")).to_be_visible()
            assert page.evaluate("Array.from(document.querySelectorAll('style')).every(s => s.sheet !== null)")
        _no_violations(page, errors, path)

    # The new-token page's select-on-click handler (formerly an inline onclick).
    page.goto(f"{base}/account/token/")
    page.get_by_role("button", name=re.compile("Generate token|Regenerate token")).click()
    token_box = page.locator("#new-api-token")
    token_box.click()
    assert page.evaluate("window.getSelection().toString() || document.activeElement.selectionEnd") != 0
    _no_violations(page, errors, "new token")

    # API docs: Swagger UI renders from its settings script file.
    page.goto(f"{base}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("MolExp API")
    _no_violations(page, errors, "api docs")
