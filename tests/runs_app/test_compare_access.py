"""Who may compare which runs: the permission matrix, runs of several workspaces, bad id lists,
and a constant number of queries whatever the number of runs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs_app.choices import Role
from tests import factories as f

from .compare_fixtures import SOURCE_A, SOURCE_B, make_run

pytestmark = pytest.mark.django_db

PAGE = {"owner": 200, "editor": 200, "viewer": 200, "outsider": 404, "anonymous": 302}
API = {"owner": 200, "editor": 200, "viewer": 200, "outsider": 404, "anonymous": 401}


@pytest.fixture
def two(experiment):
    return make_run(experiment), make_run(experiment, source=SOURCE_B)


@pytest.mark.parametrize("role", list(PAGE))
def test_page_permission_matrix(web_client_for, two, role):
    a, b = two
    response = web_client_for(role).get(f"/compare/?runs={a.pk},{b.pk}")
    assert response.status_code == PAGE[role]
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", list(API))
def test_api_permission_matrix(api_client_for, two, role):
    a, b = two
    response = api_client_for(role).get(f"/api/runs/compare/?runs={a.pk},{b.pk}")
    assert response.status_code == API[role]
    if role == "outsider":
        assert "config" not in response.json()


def test_outsider_cannot_compare_their_run_with_an_invisible_one(api_client_for, web_client_for, two, other_ws):
    """Even with one run of their own, an outsider learns nothing about the other workspace's run."""
    mine = make_run(f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws)))
    a, _ = two
    api = api_client_for("outsider").get(f"/api/runs/compare/?runs={mine.pk},{a.pk}")
    assert api.status_code == 404
    assert str(a.pk) in api.json()["detail"]
    assert web_client_for("outsider").get(f"/compare/?runs={mine.pk},{a.pk}").status_code == 404


def test_runs_of_two_workspaces_are_refused(api_client_for, web_client_for, two, other_ws, owner, staff):
    """A user who can read both workspaces still cannot mix them: 400 with the reason."""
    f.MembershipFactory(workspace=other_ws, user=owner, role=Role.VIEWER)
    elsewhere = make_run(f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws)))
    a, _ = two
    api = api_client_for("owner").get(f"/api/runs/compare/?runs={a.pk},{elsewhere.pk}")
    assert api.status_code == 400
    assert "different workspaces" in api.json()["detail"]
    page = web_client_for("owner").get(f"/compare/?runs={a.pk},{elsewhere.pk}")
    assert page.status_code == 400
    assert "different workspaces" in page.content.decode()


def test_runs_of_several_experiments_of_one_workspace_compare(api_client_for, ws, two):
    a, _ = two
    elsewhere = make_run(f.ExperimentFactory(project=f.ProjectFactory(workspace=ws)), source=SOURCE_A)
    body = api_client_for("viewer").get(f"/api/runs/compare/?runs={a.pk},{elsewhere.pk}").json()
    assert body["code"][0]["status"] == "identical"
    assert {r["experiment"] for r in body["runs"]} == {a.experiment_id, elsewhere.experiment_id}


@pytest.mark.parametrize(
    "query,message",
    [
        ("", "at least two"),
        ("?runs=", "at least two"),
        ("?runs={a}", "at least two"),
        ("?runs={a},{a}", "at least two"),
        ("?runs={a},abc", "not a run id"),
        ("?runs={a},-3", "not a run id"),
        ("?runs=" + ",".join(str(i) for i in range(1, 23)), "At most 20"),
    ],
)
def test_bad_run_lists_are_400(api_client_for, web_client_for, two, query, message):
    a, _ = two
    query = query.format(a=a.pk)
    api = api_client_for("viewer").get(f"/api/runs/compare/{query}")
    assert api.status_code == 400
    assert message in api.json()["detail"]
    page = web_client_for("viewer").get(f"/compare/{query}")
    assert page.status_code == 400
    assert message in page.content.decode()


def test_unknown_run_is_404(api_client_for, two):
    a, _ = two
    assert api_client_for("viewer").get(f"/api/runs/compare/?runs={a.pk},999999").status_code == 404


def _runs(experiment, ws, n):
    data = f.AssetFactory(workspace=ws)
    return [
        make_run(
            experiment,
            config={"lr": i / 10, "epochs": 10},
            source=SOURCE_A if i % 2 else SOURCE_B,
            inputs=[data],
            results={"rmse": i},
            metrics=[("loss", 0, 1.0), ("loss", 1, 0.5 / (i + 1)), ("acc", 1, 0.9)],
        )
        for i in range(n)
    ]


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx)


@pytest.mark.parametrize("kind", ["page", "api"])
def test_queries_constant_in_the_number_of_runs(web_client_for, api_client_for, experiment, ws, kind):
    client = web_client_for("viewer") if kind == "page" else api_client_for("viewer")
    prefix = "/compare/" if kind == "page" else "/api/runs/compare/"
    small = _runs(experiment, ws, 2)
    large = _runs(experiment, ws, 6)
    client.get(f"{prefix}?runs={small[0].pk},{small[1].pk}")  # warm per-process caches
    at_two = _count(client, f"{prefix}?runs={small[0].pk},{small[1].pk}")
    at_six = _count(client, f"{prefix}?runs={','.join(str(r.pk) for r in large)}")
    assert at_two == at_six, f"{at_two} queries for 2 runs, {at_six} for 6"
    assert at_six <= 12


# --- runs named as people name them (SPEC §15: no database ids in compare URLs) ----------------


def test_compare_by_experiment_and_numbers(web_client_for, api_client_for, experiment):
    a = f.RunFactory(experiment=experiment, number=3)
    b = f.RunFactory(experiment=experiment, number=4)
    slug = experiment.slug
    for query in (
        f"{slug}:3,4",
        f"qm9/{slug}:3,4",
        f"lab/qm9/{slug}:3&runs=lab/qm9/{slug}:4",
        f"{a.pk},{slug}:4",
    ):  # an id before any reference is an id
        page = web_client_for("viewer").get(f"/compare/?runs={query}")
        assert page.status_code == 200, (query, page.content[:300])
        assert [r.pk for r in page.context["runs"]] == [a.pk, b.pk], query
    api = api_client_for("viewer").get(f"/api/runs/compare/?runs={slug}:4,3")
    assert api.status_code == 200 and [r["id"] for r in api.json()["runs"]] == [b.pk, a.pk]  # the API keeps ids


def test_compare_refs_refuse_what_they_cannot_name(web_client_for, experiment, ws, outsider):
    f.RunFactory(experiment=experiment, number=3)
    f.RunFactory(experiment=experiment, number=4)
    client = web_client_for("viewer")
    assert client.get(f"/compare/?runs={experiment.slug}:3,9").status_code == 404  # no run #9
    assert client.get("/compare/?runs=nosuch:3,4").status_code == 404
    assert web_client_for("outsider").get(f"/compare/?runs={experiment.slug}:3,4").status_code == 404
    other_project = f.ProjectFactory(workspace=ws, slug="md")
    twin = f.ExperimentFactory(project=other_project, slug=experiment.slug)
    f.RunFactory(experiment=twin, number=3)
    ambiguous = client.get(f"/compare/?runs={experiment.slug}:3,4")
    assert ambiguous.status_code == 400 and "add the project" in ambiguous.content.decode()
    assert client.get(f"/compare/?runs=md/{experiment.slug}:3,qm9/{experiment.slug}:3").status_code == 200
    assert client.get("/compare/?runs=a:b:3,4").status_code == 400
