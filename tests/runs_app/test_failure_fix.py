"""From failure to fix (issue 14 item 8): a failed run, the first later run of its experiment that
succeeded, and what differed; one click from the error card and from the catalog's trace groups.

Real runs: the chem workflow fails in ``featurize`` under the ``broken`` profile, then the code
file is edited and the default profile succeeds."""

from __future__ import annotations

import re

import pytest

from runs_app.choices import RunStatus
from runs_app.models import Execution, Run
from runs_app.selectors import run_failure_fix
from runs_app.services import run_launch
from runs_app.tasks import execution_run_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


def _run(experiment, user, **kwargs) -> Run:
    [run] = run_launch(user=user, experiment=experiment, **kwargs)
    execution_run_task.run(execution_id=Execution.objects.get(run=run, number=1).pk)
    return Run.objects.select_related("experiment", "project", "workspace", "launched_by").get(pk=run.pk)


@pytest.fixture
def history(chem_experiment, editor, workflow_dir):
    """#1 and #2 fail (profile ``broken``), the file is edited, #3 and #4 succeed."""
    first = _run(chem_experiment, editor, profile="broken")
    second = _run(chem_experiment, editor, profile="broken")
    source = workflow_dir / "chem.py"
    source.write_text(source.read_text() + "\n# fixed: featurize no longer asked to fail\n")
    fix = _run(chem_experiment, editor, params={"dataset": "ligands.csv"})
    later = _run(chem_experiment, editor)
    assert [r.status for r in (first, second, fix, later)] == ["failed", "failed", "succeeded", "succeeded"]
    return first, second, fix, later


def test_the_fix_is_the_first_later_success_and_the_differences_are_named(history, editor):
    first, second, fix, _ = history
    found = run_failure_fix(user=editor, run=first)
    assert found["fix"].pk == fix.pk
    assert run_failure_fix(user=editor, run=second)["fix"].pk == fix.pk
    config = {row["key"]: row["status"] for row in found["differences"]["config"]}
    assert config == {"fail_in": "partial", "scale": "differs"}  # the broken profile's keys
    assert [row["key"] for row in found["differences"]["params"]] == ["dataset"]
    assert found["profile"]["status"] == "differs"
    assert [f["path"] for f in found["code"]["files"] if f["status"] != "identical"] == ["chem.py"]
    assert "+# fixed: featurize no longer asked to fail" in found["code"]["diff"]
    assert found["differences"]["inputs"] == []  # both read ligands.csv v1
    assert found["changed"] == 2 + 1 + 1 + 1 + len(found["differences"]["environment"]) + len(
        found["differences"]["packages"]
    ) + len(found["differences"]["git"])


def test_no_fix_yet_and_a_run_that_did_not_fail(chem_experiment, editor, web_client_for, api_client_for):
    failed = _run(chem_experiment, editor, profile="broken")
    assert run_failure_fix(user=editor, run=failed)["fix"] is None
    url = failed.get_absolute_url() + "fix/"
    page = web_client_for("viewer").get(url)
    assert page.status_code == 200 and 'id="fix-none"' in page.content.decode()
    assert api_client_for("viewer").get(f"/api/runs/{failed.pk}/fix/").json()["fix"] is None
    ok = _run(chem_experiment, editor)
    refused = web_client_for("viewer").get(ok.get_absolute_url() + "fix/")
    assert refused.status_code == 400 and "did not fail" in refused.content.decode()
    api = api_client_for("viewer").get(f"/api/runs/{ok.pk}/fix/")
    assert api.status_code == 400 and "did not fail" in api.json()["detail"]


def test_page_and_api_say_the_same(history, web_client_for, api_client_for, django_assert_max_num_queries):
    first, _, fix, _ = history
    client, api = web_client_for("viewer"), api_client_for("viewer")
    client.get("/")  # signed in before counting
    # session, user, the run's path (workspace, project, run), the fix, then run_compare's 7
    with django_assert_max_num_queries(13):
        page = client.get(first.get_absolute_url() + "fix/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'id="fix-run">Chem #{fix.number}</a>' in html
    assert 'data-status="partial" data-key="fail_in"' in html and 'data-status="differs" data-key="scale"' in html
    assert "<code>chem.py</code>" in html and "+# fixed: featurize no longer asked to fail" in html
    assert f"/compare/?runs=lab/qm9/chem:{first.number},{fix.number}" in html  # names, not ids
    with django_assert_max_num_queries(13):
        body = api.get(f"/api/runs/{first.pk}/fix/").json()
    assert body["failed"]["id"] == first.pk and body["fix"]["id"] == fix.pk
    assert {r["key"] for r in body["differences"]["config"]} == {"fail_in", "scale"}
    assert body["code"]["status"] == "changed"


def test_one_click_from_the_error_card_and_the_trace_group(history, web_client_for):
    first, second, fix, _ = history
    client = web_client_for("viewer")
    card = client.get(f"/assets/runs/{first.pk}/error/").content.decode()
    assert f'href="/w/lab/p/qm9/e/chem/runs/{first.number}/fix/"' in card
    catalog = client.get("/catalog/", {"q": "kind:error_trace"}).content.decode()
    assert 'id="trace-groups"' in catalog
    # The group's latest failure (#2) links to its fix page.
    assert f'class="molexp-trace-fix" href="/w/lab/p/qm9/e/chem/runs/{second.number}/fix/"' in catalog
    assert f">Chem #{first.number}</a>" in catalog  # runs read "<experiment> #N"
    assert "run id" not in catalog and not re.search(r'href="/runs/\d+/"', catalog)  # rows and groups alike
    produced = client.get("/catalog/", {"producer_run": first.pk}).content.decode()
    assert (
        f'Showing assets produced by <a href="/w/lab/p/qm9/e/chem/runs/{first.number}/">Chem #{first.number}</a>'
        in produced
    )


@pytest.mark.parametrize(("role", "code"), [("owner", 200), ("viewer", 200), ("outsider", 404)])
def test_access(history, web_client_for, api_client_for, users, role, code):
    first = history[0]
    assert web_client_for(role).get(first.get_absolute_url() + "fix/").status_code == code
    assert api_client_for(role).get(f"/api/runs/{first.pk}/fix/").status_code == code


def test_only_a_success_counts_as_the_fix(history, editor):
    """A later run that was cancelled is not a fix."""
    first = history[0]
    Run.objects.filter(experiment=first.experiment, number__gt=first.number).exclude(status=RunStatus.FAILED).update(
        status=RunStatus.CANCELLED
    )
    assert run_failure_fix(user=editor, run=first)["fix"] is None
