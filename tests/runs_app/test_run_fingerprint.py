"""One identity per computation (SPEC §12): the run fingerprint, stored, listed, searched, previewed."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs_app.choices import RunStatus
from runs_app.fingerprint import run_fingerprint
from runs_app.models import Run
from runs_app.services import launch_plan, run_launch
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


def test_the_formula_is_the_pinned_canonical_json():
    payload = {"snapshot": "ab" * 32, "workflow": "chem", "config_hash": "cd" * 32, "params": {"lr": 0.1, "é": [1]}}
    expected = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert run_fingerprint(snapshot_hash="ab" * 32, workflow_name="chem", config_hash="cd" * 32,
                           params={"é": [1], "lr": 0.1}) == expected  # fmt: skip


def test_each_run_stores_its_fingerprint_and_the_same_computation_has_the_same_one(chem_experiment, editor):
    runs = run_launch(user=editor, experiment=chem_experiment, sweep={"x": [1, 2]})
    [again] = run_launch(user=editor, experiment=chem_experiment, params={"x": 2})
    snapshot = runs[0].workflow_snapshot["snapshot_hash"]
    for run, x in zip(runs, [1, 2], strict=True):
        stored = Run.objects.get(pk=run.pk).fingerprint
        assert stored == run_fingerprint(snapshot_hash=snapshot, workflow_name="chem",
                                         config_hash=run.config_hash, params={"x": x})  # fmt: skip
    assert Run.objects.get(pk=again.pk).fingerprint == Run.objects.get(pk=runs[1].pk).fingerprint
    # searched by fingerprint (equality, IN and prefix): one index leads with it
    assert any(index.fields[:1] == ["fingerprint"] for index in Run._meta.indexes)


def test_api_lists_and_filters_by_fingerprint(api_client_for, chem_experiment, editor, other_ws):
    a, b = run_launch(user=editor, experiment=chem_experiment, sweep={"x": [1, 2]})
    foreign = f.RunFactory(experiment=f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws)))
    Run.objects.filter(pk=foreign.pk).update(fingerprint=a.fingerprint)
    client = api_client_for("viewer")
    rows = client.get("/api/runs/", {"fingerprint": a.fingerprint}).json()["results"]
    assert [r["id"] for r in rows] == [a.pk] and rows[0]["fingerprint"] == a.fingerprint
    prefix = client.get("/api/runs/", {"fingerprint": b.fingerprint[:8]}).json()["results"]
    assert [r["id"] for r in prefix] == [b.pk]
    assert client.get("/api/runs/", {"fingerprint": "0" * 64}).json()["results"] == []


def test_runs_search_page_takes_fingerprint(web_client_for, chem_experiment, editor):
    a, b = run_launch(user=editor, experiment=chem_experiment, sweep={"x": [1, 2]})
    url = f"/w/{chem_experiment.workspace.slug}/runs/"
    body = web_client_for("viewer").get(url, {"fingerprint": f"fingerprint:{a.fingerprint[:10]}"}).content.decode()
    assert f"#{a.number}" in body and f"#{b.number}<" not in body
    assert 'name="fingerprint"' in body


def _preview(client, experiment, body):
    return client.post(f"/api/experiments/{experiment.pk}/launch-preview/", body, format="json")


def test_preview_says_per_cell_whether_that_computation_already_succeeded(api_client_for, chem_experiment, editor):
    older, done, failed = run_launch(user=editor, experiment=chem_experiment, sweep={"x": [1, 1, 2]})
    Run.objects.filter(pk__in=[older.pk, done.pk]).update(status=RunStatus.SUCCEEDED)
    Run.objects.filter(pk=failed.pk).update(status=RunStatus.FAILED)
    body = _preview(api_client_for("viewer"), chem_experiment, {"sweep": {"x": [1, 2, 3]}}).json()
    cells = {c["params"]["x"]: c for c in body["cells"]}
    assert older.fingerprint == done.fingerprint
    assert cells[1]["succeeded_run"]["id"] == done.pk and cells[1]["fingerprint"] == done.fingerprint  # the newest
    assert cells[2]["succeeded_run"] is None  # failed is not succeeded
    assert cells[3]["succeeded_run"] is None


def test_preview_cells_cost_one_query_whatever_the_number_of_cells(api_client_for, chem_experiment, editor):
    client = api_client_for("viewer")
    _preview(client, chem_experiment, {"sweep": {"x": [0]}})  # warm caches (topology, molcfg)

    def count(n: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert _preview(client, chem_experiment, {"sweep": {"x": list(range(n))}}).status_code == 200
        return len(ctx.captured_queries)

    assert count(2) == count(200)


def test_launch_page_preview_marks_cells_that_already_succeeded(web_client_for, chem_experiment, editor):
    [done] = run_launch(user=editor, experiment=chem_experiment, params={"x": 1})
    Run.objects.filter(pk=done.pk).update(status=RunStatus.SUCCEEDED)
    url = chem_experiment.get_absolute_url() + "launch/preview/"
    response = web_client_for("editor").post(url, {"profile": "", "sweep": '{"x": [1, 2]}'}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200, body
    assert "1 of 2 computations already succeeded" in body
    assert f"already succeeded: Chem #{done.number}" in body


def test_plan_fingerprint_matches_the_stored_one(chem_experiment, editor):
    plan = launch_plan(experiment=chem_experiment, params={"x": 5}, capture_git=False)
    [run] = run_launch(user=editor, experiment=chem_experiment, params={"x": 5})
    assert plan.fingerprint({"x": 5}) == run.fingerprint
