"""Portable runs: export a run as an RO-Crate zip and import such a crate into another workspace.

A crate is half run record and half asset bytes. This package lives on the
runs side and reaches assets only through ``assets_app.services`` (writes:
blobs, code blobs, asset rows, lineage) and ``assets_app.selectors`` (reads);
every ``runs_app`` row of an import is written by
``runs_app.services.crate_import.run_import_create``.

Crate layout (RO-Crate 1.1, Workflow Run Crate and Process Run Crate profiles)::

    ro-crate-metadata.json       the JSON-LD graph (written last: it carries every file's sha256)
    workflow/<workflow_source>   the snapshot bytes (ComputationalWorkflow, mainEntity) and the code bundle
    molcfg.yaml  config.json     the profile file as snapshot and the merged config (with config_hash)
    inputs/…                     input assets (bytes, or only referenced by sha256: ``inputs=reference``)
    outputs/<kind>/…             artifacts, logs, checkpoints, error traces
    environment/execution-N.json python, platform, packages of each execution
    events.json  metrics.json    the run's status history and metric points
    molexp/run.json              the lossless MolExp record the importer re-registers

Modules (each states its invariants):

- ``export``: ``crate_export``/``crate_filename`` (orchestration; the sections are in ``builders/``).
- ``importer``: ``crate_import`` (orchestration: check, store bytes, register rows in one transaction).
- ``zipsafety``: the import's bounds (``CrateLimits``), member names, sizes, ratios, streaming reads.
- ``record``: the lossless record ``molexp/run.json``, writer beside reader.
- ``builders/``: one module per section of the crate.

Callers (views, API, management commands, tests) import from ``runs_app.crate``.
"""

from .export import crate_export, crate_filename
from .importer import CrateImportResult, crate_import

__all__ = ["CrateImportResult", "crate_export", "crate_filename", "crate_import"]
