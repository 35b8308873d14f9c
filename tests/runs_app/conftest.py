import pytest

from assets_app.services import asset_create, blob_store_bytes
from runs_app.services import experiment_create

from .workflow_fixtures import MOLCFG, WORKFLOW, write_fresh_folder

LIGANDS = b"name,smiles\naspirin,CC(=O)OC1=CC=CC=C1C(=O)O\ncaffeine,CN1C=NC2=C1C(=O)N(C(=O)N2C)C\n"


@pytest.fixture
def workflow_dir(tmp_path, settings, _workflow_dir_path):
    """A workflow folder with ``chem.py`` and ``molcfg.yaml``, written afresh for each test at one
    path per session with fixed times (``write_fresh_folder``: one inspection per content)."""
    wf = write_fresh_folder(_workflow_dir_path, {"chem.py": WORKFLOW, "molcfg.yaml": MOLCFG})
    settings.MOLEXP_WORKFLOW_DIRS = [str(wf)]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.MOLEXP_WORK_DIR = tmp_path / "work"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return wf


@pytest.fixture
def chem_experiment(project, editor, workflow_dir):
    experiment = experiment_create(user=editor, project=project, name="Chem", workflow_source="chem.py")
    asset_create(kind="data", name="ligands.csv", project=project, blob=blob_store_bytes(LIGANDS))
    return experiment
