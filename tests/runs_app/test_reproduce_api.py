"""POST /api/runs/{id}/reproduce/ and GET /api/runs/{id}/verdict/: permission matrix, 409, 404, pending, done."""

from __future__ import annotations

import pytest

from runs_app.models import Run
from runs_app.services import run_launch, run_reproduce

from .reproduce_workflows import *  # noqa: F403 - fixtures (steady, noisy, repro_dir, _no_broker) and helpers
from .reproduce_workflows import execute, finished_run

pytestmark = pytest.mark.django_db(transaction=True)

EXPECTED = {"owner": 201, "editor": 201, "viewer": 403, "outsider": 404, "anonymous": 401}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_reproduce_permission_matrix(steady, editor, api_client_for, role):
    original = finished_run(steady, editor)
    response = api_client_for(role).post(f"/api/runs/{original.pk}/reproduce/")
    assert response.status_code in {EXPECTED[role], 403 if role == "anonymous" else EXPECTED[role]}
    created = Run.objects.filter(reproduction_of=original)
    if EXPECTED[role] == 201:
        [copy] = created
        body = response.json()
        assert body["id"] == copy.pk and body["status"] == "queued" and body["config_hash"] == original.config_hash
        assert body["executions"][0]["trigger"] == "launch"
    else:
        assert not created.exists()


def test_reproduce_unfinished_run_is_409(steady, editor, api_client_for):
    [run] = run_launch(user=editor, experiment=steady)
    response = api_client_for("editor").post(f"/api/runs/{run.pk}/reproduce/")
    assert response.status_code == 409 and "succeeded or failed" in response.json()["detail"]


def test_verdict_is_404_for_a_run_that_is_not_a_reproduction(steady, editor, api_client_for):
    original = finished_run(steady, editor)
    assert api_client_for("viewer").get(f"/api/runs/{original.pk}/verdict/").status_code == 404


def test_verdict_pending_then_done(steady, editor, api_client_for):
    original = finished_run(steady, editor)
    copy = run_reproduce(user=editor, run=original)
    client = api_client_for("viewer")
    pending = client.get(f"/api/runs/{copy.pk}/verdict/")
    assert pending.status_code == 202 and pending.json()["status"] == "pending"
    execute(copy)
    done = client.get(f"/api/runs/{copy.pk}/verdict/")
    assert done.status_code == 200
    body = done.json()
    assert body["status"] == "done" and body["reproduced"] is True and body["reproduction_of"] == original.pk
    assert body["summary"].startswith("reproduced: 2 of 2 artifacts identical")
    assert api_client_for("outsider").get(f"/api/runs/{copy.pk}/verdict/").status_code == 404


def test_verdict_of_a_reproduction_cancelled_while_queued_is_computed_on_read(steady, editor, api_client_for):
    from runs_app.services import run_cancel

    original = finished_run(steady, editor)
    copy = run_cancel(user=editor, run=run_reproduce(user=editor, run=original))
    assert copy.status == "cancelled" and copy.verdict is None
    body = api_client_for("viewer").get(f"/api/runs/{copy.pk}/verdict/").json()
    assert body["reproduced"] is False and "status cancelled (original succeeded)" in body["summary"]
    assert Run.objects.get(pk=copy.pk).verdict["summary"] == body["summary"]


def test_runs_search_by_config_hash_finds_the_reproduction(steady, editor, api_client_for):
    original = finished_run(steady, editor)
    copy = run_reproduce(user=editor, run=original)
    results = api_client_for("viewer").get(f"/api/runs/?config_hash={original.config_hash}").json()["results"]
    assert {r["id"] for r in results} == {original.pk, copy.pk}
