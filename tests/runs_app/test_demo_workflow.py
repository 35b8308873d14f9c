"""The shipped demo workflow (examples/workflows/featurize.py) runs to the end with every profile it ships."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from assets_app.services import asset_create, blob_store_path
from runs_app.models import Execution, Run
from runs_app.services import execution_run, experiment_create, run_launch

EXAMPLES = Path(django_settings.BASE_DIR) / "examples"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_experiment(project, editor, settings, tmp_path, monkeypatch):
    settings.MOLEXP_WORKFLOW_DIRS = [str(EXAMPLES / "workflows")]
    settings.MOLEXP_WORK_DIR = tmp_path / "work"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    settings.MEDIA_ROOT = str(tmp_path)
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)
    asset_create(kind="data", name="ligands.csv", workspace=project.workspace,
                 blob=blob_store_path(EXAMPLES / "data" / "ligands.csv"))  # fmt: skip
    return experiment_create(user=editor, project=project, name="Demo", workflow_source="featurize.py")


@pytest.mark.parametrize(
    ("profile", "outcome"), [("smoke", "succeeded"), ("full-scale", "succeeded"), ("broken", "failed")]
)
def test_demo_profiles(demo_experiment, editor, profile, outcome):
    [run] = run_launch(user=editor, experiment=demo_experiment, profile=profile)
    assert execution_run(execution_id=Execution.objects.get(run=run).pk) == outcome
    run = Run.objects.get(pk=run.pk)
    if outcome == "succeeded":
        assert run.results["n_molecules"] > 0 and run.results["smi_bytes"] > 0
        assert {"features.json", "summary.json", "featurize", "featurize-progress"} <= set(
            run.assets.values_list("name", flat=True)
        )
    else:
        assert run.error["task"] == "featurize" and run.error["type"] == "RuntimeError"
