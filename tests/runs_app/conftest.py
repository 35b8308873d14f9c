import os
import shutil

import pytest

from assets_app.services import asset_create, blob_store_bytes
from runs_app.services import experiment_create

from .workflow_fixtures import MOLCFG, WORKFLOW

LIGANDS = b"name,smiles\naspirin,CC(=O)OC1=CC=CC=C1C(=O)O\ncaffeine,CN1C=NC2=C1C(=O)N(C(=O)N2C)C\n"


#: The files ``workflow_dir`` writes get this modification time (2026-01-01), whatever the test.
FIXTURE_MTIME_NS = 1_767_225_600 * 10**9


@pytest.fixture(scope="session")
def _workflow_dir_path(tmp_path_factory):
    return tmp_path_factory.mktemp("shared") / "workflows"


@pytest.fixture
def workflow_dir(tmp_path, settings, _workflow_dir_path):
    """A workflow folder with ``chem.py`` and ``molcfg.yaml``, written afresh for each test.

    Written at the same path (one per session) with the same bytes and modification times
    each time, so the topology this process inspected for an earlier test is reused (the
    inspection is keyed by path and content, as for a server whose files do not change);
    anything a test adds or edits changes the key and is inspected again.
    """
    wf = _workflow_dir_path
    shutil.rmtree(wf, ignore_errors=True)
    wf.mkdir()
    for name, text in (("chem.py", WORKFLOW), ("molcfg.yaml", MOLCFG)):
        (wf / name).write_text(text)
        os.utime(wf / name, ns=(FIXTURE_MTIME_NS, FIXTURE_MTIME_NS))
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
