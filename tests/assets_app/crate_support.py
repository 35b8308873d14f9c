"""Fixtures of the RO-Crate tests: a finished (and a failed) run executed in-process, and crate helpers."""

from __future__ import annotations

import io
import zipfile

import pytest

from runs_app.models import Execution, Run
from runs_app.services import execution_run, run_launch
from tests.runs_app.conftest import chem_experiment, workflow_dir  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Runs execute in-process; dispatch to a broker is the outside world here."""
    monkeypatch.setattr("runs_app.services.dispatch.execution_dispatch", lambda executions: None)


def _execute(experiment, user, **kwargs) -> Run:
    [run] = run_launch(user=user, experiment=experiment, **kwargs)
    execution_run(execution_id=Execution.objects.get(run=run, number=1).pk)
    return Run.objects.select_related("experiment", "project", "workspace").get(pk=run.pk)


@pytest.fixture
def finished_run(chem_experiment, editor):  # noqa: F811
    return _execute(chem_experiment, editor, profile="quick-test")


@pytest.fixture
def failed_run(chem_experiment, editor):  # noqa: F811
    return _execute(chem_experiment, editor, params={"fail_in": "summarize"})


def export_bytes(run: Run, user, *, inputs: str = "include") -> bytes:
    from runs_app.crate import crate_export

    buf = io.BytesIO()
    crate_export(user=user, run=run, out=buf, inputs=inputs)
    return buf.getvalue()


def zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


METADATA = "ro-crate-metadata.json"
RECORD = "molexp/run.json"


def resign(
    data: bytes,
    *,
    replace: dict[str, bytes] | None = None,
    add: dict[str, bytes] | None = None,
    record=None,
    metadata=None,
    stored: tuple[str, ...] = (),
) -> bytes:
    """A crate re-signed as an attacker would: members replaced or added, every digest recomputed.

    ``record(dict)`` edits the MolExp record, ``metadata(dict)`` the JSON-LD graph (after the
    digests are set); members named in ``stored`` are written uncompressed (ZIP_STORED).
    The result passes every checksum check of the importer.
    """
    import hashlib
    import json

    members = zip_members(data)
    members.update(replace or {})
    members.update(add or {})
    if record is not None:
        rec = json.loads(members[RECORD])
        record(rec)
        members[RECORD] = json.dumps(rec).encode()
    meta = json.loads(members.pop(METADATA))
    graph = meta["@graph"]
    by_id = {e.get("@id"): e for e in graph}
    for name, payload in members.items():
        sha = hashlib.sha256(payload).hexdigest()
        entity = by_id.get(name)
        if entity is None:
            entity = {"@id": name, "@type": "File"}
            graph.append(entity)
        entity.update(sha256=sha, identifier=f"sha256:{sha}", contentSize=str(len(payload)))
    if metadata is not None:
        metadata(meta)
    members[METADATA] = json.dumps(meta).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in members.items():
            zf.writestr(name, payload, compress_type=zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED)
    return out.getvalue()


def workflow_member(data: bytes) -> str:
    """The crate's workflow source member (``workflow/…``)."""
    return next(name for name in zip_members(data) if name.startswith("workflow/"))


def marker_source(original: bytes, marker) -> bytes:
    """The workflow source with top-level code that writes ``marker``: any load of the module would run it."""
    payload = f"from pathlib import Path as _P\n_P({str(marker)!r}).write_text('crate code ran')\n".encode()
    return payload + original


def tampered_crate(data: bytes, marker) -> bytes:
    """``data`` with its workflow source altered to write ``marker``, re-signed with valid digests."""
    import hashlib

    name = workflow_member(data)
    source = marker_source(zip_members(data)[name], marker)

    def edit(rec: dict) -> None:
        rec["workflow"]["sha256"] = hashlib.sha256(source).hexdigest()

    return resign(data, replace={name: source}, record=edit)
