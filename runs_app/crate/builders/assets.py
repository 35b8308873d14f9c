"""RO-Crate section "assets": the run's inputs and outputs as files (or references) and record entries.

Files written::

    inputs/<id>-<name>                        input assets' bytes (``inputs="include"``)
    outputs/<kind>/<id>-v<version>-<name>     artifacts, logs, checkpoints (``.json`` when data only), error traces

Invariants:
- The assets are whole rows read through ``assets_app.selectors`` by the caller;
  their bytes stream from storage (``CrateWriter.write_asset``).
- An input is listed once, however many times the run used it. With
  ``inputs="reference"`` (or an input without bytes) it is a ``File`` entity named
  by ``urn:sha256:…`` (or ``#input-<id>``) and its bytes are not in the zip.
- Each asset gets exactly one entry for the lossless record
  (``record.asset_entry``); when bytes were written, the entry's sha256 and size
  are those of the bytes in the zip.
"""

from __future__ import annotations

from typing import Any

from assets_app.selectors import AssetKind

from ..record import asset_entry
from .base import CrateBuild, json_bytes, safe_part


def inputs_add(
    build: CrateBuild, *, uses: list, inputs: str, exec_numbers: dict[int, int]
) -> tuple[dict[int, str], list[dict]]:
    """The asset versions the run resolved (lineage). Returns asset id → graph id, and their record entries."""
    input_ids: dict[int, str] = {}
    records: list[dict] = []
    for use in uses:
        asset = use.asset.as_kind()
        if asset.pk in input_ids:
            continue
        if inputs == "include" and asset.file:
            path = f"inputs/{asset.pk}-{safe_part(asset.name)}"
            entry = build.writer.write_asset(path, asset)
            build.add_file(path, entry, name=asset.name, encodingFormat=asset.media_type, version=str(asset.version))
            input_ids[asset.pk] = path
            records.append(asset_entry(asset, role="input", path=path, execution_numbers=exec_numbers))
            records[-1].update(sha256=entry["sha256"], size=entry["size"])  # the bytes as exported
        else:
            ref = f"urn:sha256:{asset.sha256}" if asset.sha256 else f"#input-{asset.pk}"
            build.graph.append({"@id": ref, "@type": "File", "name": asset.name, "sha256": asset.sha256,
                                "contentSize": str(asset.size), "encodingFormat": asset.media_type,
                                "version": str(asset.version),
                                "description": "Input referenced by name and SHA-256 only (bytes not included)."})  # fmt: skip
            build.parts.append({"@id": ref})
            input_ids[asset.pk] = ref
            records.append(asset_entry(asset, role="input", path=None, execution_numbers=exec_numbers))
    return input_ids, records


def outputs_add(build: CrateBuild, *, outputs: list, exec_numbers: dict[int, int]) -> tuple[dict[int, str], list[dict]]:
    """Artifacts, logs, checkpoints, error traces of this run. Returns asset id → crate path, and record entries.

    An output without bytes (other than a checkpoint, written as its JSON data) is in the record only.
    """
    output_ids: dict[int, str] = {}
    records: list[dict] = []
    for asset in outputs:
        path = f"outputs/{asset.kind}/{asset.pk}-v{asset.version}-{safe_part(asset.name)}"
        if asset.file:
            entry = build.writer.write_asset(path, asset)
        elif asset.kind == AssetKind.CHECKPOINT:
            path += ".json"
            entry = build.writer.write_bytes(path, json_bytes(asset.data))
        else:
            records.append(asset_entry(asset, role="output", path=None, execution_numbers=exec_numbers))
            continue
        props: dict[str, Any] = {"name": asset.name, "encodingFormat": asset.media_type or "application/json",
                                 "version": str(asset.version)}  # fmt: skip
        if asset.kind == AssetKind.ERROR_TRACE:
            props["description"] = f"{asset.exception_type}: {asset.exception_message}"[:2000]
        if asset.producer_execution_id in exec_numbers:
            props["about"] = {"@id": f"#execution-{exec_numbers[asset.producer_execution_id]}"}
        build.add_file(path, entry, **props)
        output_ids[asset.pk] = path
        records.append(asset_entry(asset, role="output", path=path, execution_numbers=exec_numbers))
        if asset.file:
            records[-1].update(sha256=entry["sha256"], size=entry["size"])  # the bytes as exported
    return output_ids, records
