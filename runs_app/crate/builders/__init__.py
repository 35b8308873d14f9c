"""The RO-Crate export, one builder per section of the crate; each module states its files and invariants.

- ``base``: the hashing zip writer and the graph being built (shared by all).
- ``workflow``: the workflow file, the code bundle, ``molcfg.yaml``, ``config.json``, ``git.diff``.
- ``assets``: inputs (bytes or references) and outputs.
- ``actions``: executions and tasks as actions, environments, ``events.json``, ``metrics.json``.
- ``root``: the root Dataset and ``ro-crate-metadata.json`` (and the import side's reader of its file list).

``runs_app.crate.export.crate_export`` calls them in that order; no builder calls another.
"""
