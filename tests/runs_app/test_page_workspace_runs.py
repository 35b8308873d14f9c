"""The workspace runs search: filters (config hash prefix included), scoping, htmx fragment, constant queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs_app.choices import RunStatus
from tests import factories as f

URL = "/w/lab/runs/"


@pytest.fixture
def runs(ws, other_ws):
    exp_a = f.ExperimentFactory(project=f.ProjectFactory(workspace=ws, slug="pa"), slug="ea", name="Alpha")
    exp_b = f.ExperimentFactory(project=f.ProjectFactory(workspace=ws, slug="pb"), slug="eb", name="Beta")
    same = "ab12cd" + "0" * 58
    other = "ff" * 32
    made = {
        "a1": f.RunFactory(experiment=exp_a, number=1, config_hash=same, status=RunStatus.SUCCEEDED),
        "b1": f.RunFactory(experiment=exp_b, number=1, config_hash=same, status=RunStatus.FAILED),
        "b2": f.RunFactory(experiment=exp_b, number=2, config_hash=other, status=RunStatus.SUCCEEDED),
        "foreign": f.RunFactory(
            experiment=f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws)), config_hash=same
        ),
    }
    return made, same


def _numbers(response):
    return sorted(r.pk for r in response.context["page"].object_list)


@pytest.mark.django_db
def test_same_config_across_experiments_by_full_hash_and_prefix(web_client_for, runs):
    made, same = runs
    client = web_client_for("viewer")
    for value in (same, same[:6], same[:20].upper()):
        response = client.get(URL, {"config_hash": value})
        assert response.status_code == 200
        assert _numbers(response) == sorted([made["a1"].pk, made["b1"].pk]), value  # never the foreign run


@pytest.mark.django_db
def test_status_and_experiment_filters_and_bad_hash(web_client_for, runs):
    made, same = runs
    client = web_client_for("editor")
    assert _numbers(client.get(URL, {"status": "failed"})) == [made["b1"].pk]
    assert _numbers(client.get(URL, {"experiment": made["b1"].experiment_id})) == sorted([made["b1"].pk, made["b2"].pk])
    assert _numbers(client.get(URL, {"config_hash": "zz"})) == []


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "code"), [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404)])
def test_access(web_client_for, runs, role, code):
    assert web_client_for(role).get(URL).status_code == code


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(web_client_for, runs):
    response = web_client_for("anonymous").get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_htmx_gets_the_table_only(web_client_for, runs):
    response = web_client_for("viewer").get(URL, {"status": "failed"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="workspace-run-table">') and "<html" not in body


@pytest.mark.django_db
def test_query_count_is_constant(web_client_for, ws):
    client = web_client_for("viewer")
    exp = f.ExperimentFactory(project=f.ProjectFactory(workspace=ws))
    counts = []
    for n in (3, 20):
        for i in range(n - len(counts) * 3):
            f.RunFactory(experiment=exp)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(URL).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] and counts[0] <= 10, counts
