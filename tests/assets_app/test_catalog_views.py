"""Python catalog views (SPEC §6): ``<scope>.assets.query(kind=, producer_task=, tag=, name=, recursive=)``."""

from __future__ import annotations

import pytest

from assets_app.models import ArtifactAsset, Asset, DataAsset, LogAsset
from assets_app.services import asset_create
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(ws, project, experiment, run):
    """One asset per scope, plus a sibling project/experiment/run that the narrower views must not see."""
    other_project = f.ProjectFactory(workspace=ws, slug="other")
    other_experiment = f.ExperimentFactory(project=project, slug="sibling")
    other_run = f.RunFactory(experiment=experiment, number=2)
    execution = f.ExecutionFactory(run=run, number=1)
    made = {
        "ws": asset_create(kind="data", name="ws.csv", workspace=ws, tags=["raw"]),
        "project": asset_create(kind="data", name="p.csv", project=project, tags=["raw", "clean"]),
        "experiment": asset_create(kind="data", name="e.json", experiment=experiment),
        "run": asset_create(
            kind="artifact",
            name="model.pt",
            run=run,
            producer_execution=execution,
            producer_task="train",
            tags=["clean"],
        ),  # fmt: skip
        "run_log": asset_create(kind="log", name="train", run=run, producer_execution=execution, producer_task="train"),
        "other_project": asset_create(kind="data", name="o.csv", project=other_project),
        "other_experiment": asset_create(kind="data", name="s.csv", experiment=other_experiment),
        "other_run": asset_create(kind="artifact", name="model.pt", run=other_run, producer_task="train"),
    }
    return made


def _names(qs, tree) -> set[str]:
    keys = {a.pk: k for k, a in tree.items()}
    return {keys[a.pk] for a in qs}


def test_recursive_views_cover_every_narrower_scope(ws, project, experiment, run, tree):
    assert _names(ws.assets.query(), tree) == set(tree)
    assert _names(project.assets.query(), tree) == {"project", "experiment", "run", "run_log", "other_experiment",
                                                    "other_run"}  # fmt: skip
    assert _names(experiment.assets.query(), tree) == {"experiment", "run", "run_log", "other_run"}
    assert _names(run.assets.query(), tree) == {"run", "run_log"}


def test_non_recursive_views_keep_exactly_that_scope(ws, project, experiment, run, tree):
    assert _names(ws.assets.query(recursive=False), tree) == {"ws"}
    assert _names(project.assets.query(recursive=False), tree) == {"project"}
    assert _names(experiment.assets.query(recursive=False), tree) == {"experiment"}
    assert _names(run.assets.query(recursive=False), tree) == {"run", "run_log"}


def test_kind_filter_accepts_values_classes_and_lists(ws, tree):
    assert _names(ws.assets.query(kind="artifact"), tree) == {"run", "other_run"}
    assert _names(ws.assets.query(kind=LogAsset), tree) == {"run_log"}
    assert _names(ws.assets.query(kind=["log", ArtifactAsset]), tree) == {"run", "run_log", "other_run"}


def test_producer_task_filter(experiment, tree):
    assert _names(experiment.assets.query(producer_task="train"), tree) == {"run", "run_log", "other_run"}
    assert _names(experiment.assets.query(producer_task="nope"), tree) == set()


def test_tag_filter(ws, project, tree):
    assert _names(ws.assets.query(tag="raw"), tree) == {"ws", "project"}
    assert _names(project.assets.query(tag="clean"), tree) == {"project", "run"}
    assert _names(ws.assets.query(tag="ra"), tree) == set()  # whole tags only


def test_name_exact_and_glob(ws, tree):
    assert _names(ws.assets.query(name="model.pt"), tree) == {"run", "other_run"}
    assert _names(ws.assets.query(name="*.csv"), tree) == {"ws", "project", "other_project", "other_experiment"}
    assert _names(ws.assets.query(name="?.csv"), tree) == {"project", "other_project", "other_experiment"}
    assert _names(ws.assets.query(name="e.*"), tree) == {"experiment"}  # '.' is literal, not a regex
    assert _names(ws.assets.query(name="ws.csv*"), tree) == {"ws"}
    assert _names(ws.assets.query(name="*(*"), tree) == set()


def test_filters_combine(project, tree):
    assert _names(project.assets.query(kind="data", tag="raw", name="*.csv", recursive=False), tree) == {"project"}


def test_results_are_typed_and_newest_first(ws, tree):
    rows = list(ws.assets.query())
    assert [a.pk for a in rows] == sorted((a.pk for a in rows), reverse=True)
    by_pk = {a.pk: a for a in rows}
    assert type(by_pk[tree["ws"].pk]) is DataAsset
    assert type(by_pk[tree["run"].pk]) is ArtifactAsset
    assert type(by_pk[tree["run_log"].pk]) is LogAsset


def test_query_is_one_lazy_queryset(ws, tree, django_assert_num_queries):
    qs = ws.assets.query(kind="data")
    with django_assert_num_queries(1):
        assert len(list(qs[:2])) == 2
    assert qs.count() == 5


def test_model_manager_query_crosses_workspaces(ws, other_ws, tree):
    asset_create(kind="data", name="far.csv", workspace=other_ws)
    assert Asset.objects.query(name="far.csv").count() == 1
    assert DataAsset.objects.query(name="*.csv").count() == 5  # 4 in ws + far.csv
