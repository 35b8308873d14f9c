"""The compare page and API show exactly what differs between runs: config keys, code lines,
input versions, environment packages, results and metrics."""

from __future__ import annotations

import pytest

from tests import factories as f

from .compare_fixtures import ENV, SOURCE_A, SOURCE_B, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(ws, experiment, project):
    """Two runs (second in another experiment of the same workspace) that differ in every aspect."""
    other_experiment = f.ExperimentFactory(project=project, name="Tuned", slug="tuned")
    ligands_v1 = f.AssetFactory(workspace=ws, name="ligands.csv", version=1, sha256="a" * 64)
    ligands_v2 = f.AssetFactory(workspace=ws, name="ligands.csv", version=2, sha256="b" * 64)
    targets = f.AssetFactory(workspace=ws, name="targets.csv", version=1, sha256="c" * 64)
    env_b = {**ENV, "python": "3.12.4", "packages": {**ENV["packages"], "numpy": "2.2.0", "torch": "2.5.0"}}
    a = make_run(
        experiment,
        config={"optimizer": {"lr": 0.1, "name": "adam"}, "epochs": 10, "seed": 1},
        source=SOURCE_A,
        inputs=[ligands_v1, targets],
        results={"rmse": 0.5, "n": 100},
        metrics=[("loss", 0, 1.0), ("loss", 1, 0.5), ("acc", 1, 0.9)],
        git_commit="abc123",
    )
    b = make_run(
        other_experiment,
        config={"optimizer": {"lr": 0.01, "name": "adam"}, "epochs": 10, "batch": 32},
        source=SOURCE_B,
        env=env_b,
        inputs=[ligands_v2, targets],
        results={"rmse": 0.4, "n": 100},
        metrics=[("loss", 0, 1.0), ("loss", 1, 0.3), ("acc", 1, 0.9)],
        git_commit="def456",
    )
    return a, b


def _by_key(rows):
    return {row["key"]: row for row in rows}


def test_api_compare_reports_each_difference(api_client_for, pair):
    a, b = pair
    response = api_client_for("viewer").get(f"/api/runs/compare/?runs={a.pk},{b.pk}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["id"] for r in body["runs"]] == [a.pk, b.pk]

    config = _by_key(body["config"])
    assert config["optimizer.lr"]["status"] == "differs"
    assert [v["value"] for v in config["optimizer.lr"]["values"]] == [0.1, 0.01]
    assert config["optimizer.name"]["status"] == "same"
    assert config["epochs"]["status"] == "same"
    assert config["seed"]["status"] == "partial"
    assert [v["present"] for v in config["seed"]["values"]] == [True, False]
    assert config["batch"]["status"] == "partial"
    assert body["config_summary"] == {"same": 2, "differs": 1, "partial": 2}

    [code] = body["code"]
    assert code["status"] == "changed"
    diff_lines = [line for line in code["diff"].splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert diff_lines == ["-    return ctx.config['lr']", "+    return ctx.config['lr'] * 2"]

    git = _by_key(body["git"])
    assert git["git_commit"]["status"] == "differs"
    assert git["git_branch"]["status"] == "same"
    assert git["git_dirty"]["status"] == "same"

    inputs = _by_key(body["inputs"])
    assert inputs["ligands.csv"]["status"] == "differs"
    assert [v["value"][0]["version"] for v in inputs["ligands.csv"]["values"]] == [1, 2]
    assert [v["value"][0]["sha256"] for v in inputs["ligands.csv"]["values"]] == ["a" * 64, "b" * 64]
    assert inputs["targets.csv"]["status"] == "same"

    env = _by_key(body["environment"])
    assert env["python"]["status"] == "differs"
    assert env["platform"]["status"] == "same"
    packages = _by_key(body["packages"])
    assert set(packages) == {"numpy", "torch"}
    assert [v["value"] for v in packages["numpy"]["values"]] == ["2.1.0", "2.2.0"]
    assert packages["torch"]["status"] == "partial"
    assert body["packages_same"] == 2

    results = _by_key(body["results"])
    assert results["rmse"]["status"] == "differs"
    assert results["n"]["status"] == "same"

    metrics = _by_key(body["metrics"])
    assert [v["value"] for v in metrics["loss"]["values"]] == [0.5, 0.3]
    assert metrics["loss"]["status"] == "differs"
    assert metrics["acc"]["status"] == "same"
    assert [s["run"] for s in body["curves"]["loss"]] == [a.pk, b.pk]
    assert body["curves"]["loss"][1]["points"] == [[0, 1.0], [1, 0.3]]


def test_identical_code_is_reported_identical(api_client_for, experiment):
    a = make_run(experiment)
    b = make_run(experiment, config={"optimizer": {"lr": 0.2, "name": "adam"}, "epochs": 10})
    body = api_client_for("owner").get(f"/api/runs/compare/?runs={a.pk},{b.pk}").json()
    assert body["code"][0]["status"] == "identical"
    assert body["code"][0]["diff"] == ""
    assert body["packages"] == []
    assert [row["key"] for row in body["config"] if row["status"] != "same"] == ["optimizer.lr"]


def test_int_and_float_and_bool_are_told_apart(api_client_for, experiment):
    a = make_run(experiment, config={"x": 1, "flag": True})
    b = make_run(experiment, config={"x": 1.0, "flag": 1})
    body = api_client_for("owner").get(f"/api/runs/compare/?runs={a.pk},{b.pk}").json()
    assert {row["key"]: row["status"] for row in body["config"]} == {"x": "differs", "flag": "differs"}


def test_page_shows_the_differences(web_client_for, pair):
    a, b = pair
    response = web_client_for("viewer").get(f"/compare/?runs={a.pk},{b.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-status="differs" data-key="optimizer.lr"' in html
    assert 'data-status="same" data-key="optimizer.name"' in html
    assert 'data-status="partial" data-key="seed"' in html
    assert "+    return ctx.config[&#x27;lr&#x27;] * 2" in html
    assert 'data-status="differs" data-key="ligands.csv"' in html
    assert 'data-status="differs" data-key="numpy"' in html
    assert 'data-key="scipy"' not in html  # same version in both: not listed
    assert 'data-status="differs" data-key="rmse"' in html
    assert 'id="compare-chart-data"' in html
    assert "chart.umd.min.js" in html
    ref = "{0.workspace.slug}/{0.project.slug}/{0.experiment.slug}:{0.number}"
    share = f"?runs={ref.format(a)},{ref.format(b)}"  # two experiments: each run names its own
    assert share in html and f"?runs={a.pk},{b.pk}" not in html  # the shareable link names runs, not ids
    again = web_client_for("viewer").get(f"/compare/{share}")
    assert again.status_code == 200 and [r.pk for r in again.context["runs"]] == [a.pk, b.pk]


def test_page_accepts_repeated_runs_from_the_table_form(web_client_for, pair):
    a, b = pair
    response = web_client_for("owner").get(f"/compare/?runs={b.pk}&runs={a.pk}")
    assert response.status_code == 200
    assert [r.pk for r in response.context["runs"]] == [b.pk, a.pk]


def test_experiment_table_has_compare_checkboxes(web_client_for, pair):
    a, _ = pair
    response = web_client_for("viewer").get(a.experiment.get_absolute_url())
    html = response.content.decode()
    assert 'action="/compare/"' in html
    assert f'name="runs" value="lab/qm9/{a.experiment.slug}:{a.number}" form="run-compare-form"' in html
    assert "Compare selected" in html
