"""Export a run as an RO-Crate: it loads with the ``rocrate`` library and describes the whole record."""

import hashlib
import json

import pytest
from rocrate.rocrate import ROCrate

from runs_app.models import Run

from . import crate_support as cs
from .crate_support import export_bytes, zip_members

# Fixtures shared by the crate tests (pytest finds them as module attributes).
_no_broker, chem_experiment, workflow_dir = cs._no_broker, cs.chem_experiment, cs.workflow_dir
finished_run, failed_run = cs.finished_run, cs.failed_run

pytestmark = pytest.mark.django_db(transaction=True)

PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5",
    "https://w3id.org/ro/wfrun/workflow/0.5",
}


def _load(tmp_path, data: bytes) -> ROCrate:
    path = tmp_path / "run.crate.zip"
    path.write_bytes(data)
    return ROCrate(path)


def _ids(value) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [getattr(item, "id", item) for item in items if item is not None]


def test_export_loads_with_rocrate_and_describes_the_run(finished_run, viewer, tmp_path):
    data = export_bytes(finished_run, viewer)
    crate = _load(tmp_path, data)
    root = crate.root_dataset
    assert root["name"] == "Chem run 1"
    assert PROFILES <= set(_ids(root["conformsTo"]))
    workflow = crate.mainEntity
    assert workflow.id == "workflow/chem.py"
    assert {"File", "SoftwareSourceCode", "ComputationalWorkflow"} <= set(workflow.type)
    members = zip_members(data)
    assert hashlib.sha256(members["workflow/chem.py"]).hexdigest() == workflow["sha256"]
    assert workflow["sha256"] == finished_run.workflow_snapshot["source_sha256"]

    actions = [e for e in crate.get_entities() if "CreateAction" in _ids(e.type) or e.type == "CreateAction"]
    run_actions = [a for a in actions if _ids(a.get("instrument")) == ["workflow/chem.py"]]
    assert len(run_actions) == finished_run.executions.count() == 1
    action = run_actions[0]
    assert action["actionStatus"] == "http://schema.org/CompletedActionStatus"
    assert action["startTime"] and action["endTime"]
    assert action["agent"].type == "SoftwareApplication"
    assert "config.json" in _ids(action["object"]) and any(i.startswith("inputs/") for i in _ids(action["object"]))
    assert any(i.startswith("outputs/artifact/") for i in _ids(action["result"]))
    assert len(_ids(action["hasPart"])) == 3  # load, featurize, summarize

    files = [e for e in crate.data_entities if "File" in (e.type if isinstance(e.type, list) else [e.type])]
    local = [f for f in files if f.id in members]
    assert len(local) == len(members) - 1  # every file but the metadata itself
    for entity in local:
        assert entity["sha256"] == hashlib.sha256(members[entity.id]).hexdigest(), entity.id

    config = json.loads(members["config.json"])
    assert config == finished_run.config
    assert crate.get("#config_hash")["value"] == finished_run.config_hash
    assert members["molcfg.yaml"].decode() == finished_run.workflow_snapshot["molcfg"]
    assert json.loads(members["environment/execution-1.json"])["python"]
    events = json.loads(members["events.json"])
    assert [e["to_status"] for e in events if e["subject"] == "run"] == ["queued", "running", "succeeded"]
    assert len(json.loads(members["metrics.json"])) == 2
    names = {n.split("/")[1] for n in members if n.startswith("outputs/")}
    assert names == {"artifact", "log", "checkpoint"}


def test_failed_run_exports_its_error_trace(failed_run, viewer, tmp_path):
    data = export_bytes(failed_run, viewer)
    crate = _load(tmp_path, data)
    traces = [e for e in crate.data_entities if e.id.startswith("outputs/error_trace/")]
    assert len(traces) == 1 and "ValueError: summary failed" in traces[0]["description"]
    action = crate.get("#execution-1")
    assert action["actionStatus"] == "http://schema.org/FailedActionStatus" and "summary failed" in action["error"]
    assert "summary failed" in zip_members(data)[traces[0].id].decode()


def test_inputs_reference_lists_sha256_without_bytes(finished_run, viewer, tmp_path):
    data = export_bytes(finished_run, viewer, inputs="reference")
    members = zip_members(data)
    assert not any(n.startswith("inputs/") for n in members)
    crate = _load(tmp_path, data)
    sha = hashlib.sha256(b"").hexdigest()
    [ref] = [e for e in crate.get_entities() if e.id.startswith("urn:sha256:")]
    assert ref["name"] == "ligands.csv" and ref["sha256"] != sha and ref.id == f"urn:sha256:{ref['sha256']}"
    assert ref.id in _ids(crate.get("#execution-1")["object"])


def test_inputs_include_carries_the_bytes(finished_run, viewer):
    members = zip_members(export_bytes(finished_run, viewer, inputs="include"))
    [name] = [n for n in members if n.startswith("inputs/")]
    assert members[name].startswith(b"name,smiles")


def test_export_needs_membership(finished_run, outsider):
    from django.http import Http404

    with pytest.raises(Http404):
        export_bytes(Run.objects.get(pk=finished_run.pk), outsider)
