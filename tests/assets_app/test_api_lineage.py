"""``GET /api/assets/{id}/lineage/``: producer, every use of this version, versions; scoped; constant queries."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from assets_app.services import asset_create, asset_resolve_for_run
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def produced(run):
    execution = f.ExecutionFactory(run=run, number=1)
    return asset_create(kind="artifact", name="model.pt", run=run, producer_execution=execution,
                        producer_task="train")  # fmt: skip


@pytest.fixture
def dataset(project):
    asset_create(kind="data", name="ligands.csv", project=project, metadata={"v": 1})
    return asset_create(kind="data", name="ligands.csv", project=project, metadata={"v": 2})


def _use(dataset, experiment, number: int, task: str = "featurize"):
    run = f.RunFactory(experiment=experiment, number=number)
    execution = f.ExecutionFactory(run=run, number=1)
    asset_resolve_for_run(run=run, execution=execution, task=task, name=dataset.name)
    return run, execution


def test_producer_gives_run_execution_and_task(api_client_for, produced, run):
    body = api_client_for("viewer").get(f"/api/assets/{produced.pk}/lineage/").json()
    assert body["asset"]["id"] == produced.pk and body["asset"]["name"] == "model.pt"
    assert body["producer"] == {
        "run": run.pk,
        "run_number": run.number,
        "experiment": run.experiment_id,
        "execution": produced.producer_execution_id,
        "execution_number": 1,
        "task": "train",
    }
    assert body["used_by"] == [] and [v["id"] for v in body["versions"]] == [produced.pk]


def test_used_by_lists_every_run_that_resolved_this_version(api_client_for, dataset, experiment):
    run_a, exec_a = _use(dataset, experiment, 10)
    run_b, exec_b = _use(dataset, experiment, 11, task="train")
    body = api_client_for("viewer").get(f"/api/assets/{dataset.pk}/lineage/").json()
    assert body["producer"] is None
    used = [(u["run"], u["run_number"], u["experiment"], u["execution"], u["task"]) for u in body["used_by"]]
    assert used == [
        (run_b.pk, 11, experiment.pk, exec_b.pk, "train"),
        (run_a.pk, 10, experiment.pk, exec_a.pk, "featurize"),
    ]
    assert all(u["at"] for u in body["used_by"]) and body["used_by_truncated"] is False
    assert [v["version"] for v in body["versions"]] == [2, 1]


def test_uses_of_another_version_are_not_listed(api_client_for, dataset, experiment):
    _use(dataset, experiment, 10)  # resolves the newest, v2
    v1 = next(v for v in dataset.__class__.objects.filter(name="ligands.csv", version=1))
    body = api_client_for("viewer").get(f"/api/assets/{v1.pk}/lineage/").json()
    assert body["used_by"] == []


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("editor", 200), ("viewer", 200),
                                              ("outsider", 404), ("anonymous", 401)])  # fmt: skip
def test_permission_matrix(api_client_for, dataset, role, status):
    response = api_client_for(role).get(f"/api/assets/{dataset.pk}/lineage/")
    assert response.status_code == status
    if status != 200:
        assert "detail" in response.json() and "ligands" not in response.content.decode()


def test_unknown_or_malformed_id_is_a_json_404(api_client_for):
    client = api_client_for("viewer")
    assert client.get("/api/assets/999999/lineage/").status_code == 404
    response = client.get("/api/assets/abc/lineage/")
    assert response.status_code == 404 and response.json()["detail"]


def test_query_count_is_constant(dataset, experiment, viewer, django_assert_num_queries):
    client = APIClient()
    client.force_authenticate(user=viewer)
    url = f"/api/assets/{dataset.pk}/lineage/"
    _use(dataset, experiment, 10)
    with django_assert_num_queries(3):
        assert len(client.get(url).json()["used_by"]) == 1
    for number in range(20, 32):
        _use(dataset, experiment, number)
    asset_create(kind="data", name="ligands.csv", project=dataset.project, metadata={"v": 3})
    with django_assert_num_queries(3):
        assert len(client.get(url).json()["used_by"]) == 13


def test_schema_documents_the_route(api_client_for):
    schema = api_client_for("viewer").get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/assets/{id}/lineage/" in schema and "used_by" in schema
