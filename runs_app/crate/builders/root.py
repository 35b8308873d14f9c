"""RO-Crate section "root": the metadata file, its descriptor and the root Dataset, written and read back.

``ro-crate-metadata.json`` is the JSON-LD graph: the descriptor (about ``./``),
the root ``Dataset`` (``hasPart``: every file; ``mentions``: every execution;
``mainEntity``: the workflow), the files and actions the other sections built,
the Python language entity and the three profiles the crate conforms to.

Invariants:
- The metadata is written last, so it carries the sha256 of every other file.
- :func:`metadata_declared_files` (the import side) accepts a graph only with a
  descriptor about ``./`` and a root ``Dataset``, and returns every *local*
  ``File`` entity with its declared sha256 (64 lowercase hex; from ``sha256`` or
  an ``identifier`` ``sha256:…``); a local file without one refuses the crate.
  References (``#…``, ``urn:…``, URLs, ``./``) are not files of the zip.
"""

from __future__ import annotations

import re
from typing import Any

from runs_app.models import Execution, Run

from ..zipsafety import refuse
from .base import CrateBuild, iso, json_bytes

METADATA = "ro-crate-metadata.json"
RO_CRATE_CONTEXT = "https://w3id.org/ro/crate/1.1/context"
WFRUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": "Process Run Crate",
    "https://w3id.org/ro/wfrun/workflow/0.5": "Workflow Run Crate",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "Workflow RO-Crate",
}


def metadata_write(
    build: CrateBuild,
    *,
    run: Run,
    executions: list[Execution],
    crate_name: str,
    exported_at,
    inputs: str,
    workflow_id: str | None,
    source_url: str,
    actions: list[dict],
) -> None:
    """Add the contextual entities, then write the metadata file (descriptor, root Dataset, graph)."""
    graph = build.graph
    python = next((e.environment.get("python") for e in executions if (e.environment or {}).get("python")), "")
    graph.append({"@id": "#python", "@type": "ComputerLanguage", "name": "Python",
                  "identifier": {"@id": "https://www.python.org/"}, "url": {"@id": "https://www.python.org/"},
                  **({"version": python} if python else {})})  # fmt: skip
    graph.extend({"@id": uri, "@type": "CreativeWork", "name": name, "version": uri.rsplit("/", 1)[1]}
                 for uri, name in PROFILES.items())  # fmt: skip
    root = {
        "@id": "./",
        "@type": "Dataset",
        "name": crate_name,
        "description": f"MolExp run {run.number} of experiment {run.experiment.name} (project {run.project.name}), "
        f"status {run.status}; exported with inputs={inputs}.",
        "datePublished": iso(exported_at),
        "conformsTo": [{"@id": uri} for uri in PROFILES],
        "hasPart": build.parts,
        "mentions": actions,
    }
    if workflow_id:
        root["mainEntity"] = {"@id": workflow_id}
    if source_url:
        root["url"] = source_url
    descriptor = {
        "@id": METADATA,
        "@type": "CreativeWork",
        "conformsTo": [
            {"@id": "https://w3id.org/ro/crate/1.1"},
            {"@id": "https://w3id.org/workflowhub/workflow-ro-crate/1.0"},
        ],  # fmt: skip
        "about": {"@id": "./"},
    }
    metadata = {"@context": [RO_CRATE_CONTEXT, WFRUN_CONTEXT], "@graph": [descriptor, root, *graph]}
    build.writer.zf.writestr(METADATA, json_bytes(metadata))


def _is_local(entity_id: str) -> bool:
    return not (entity_id.startswith("#") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", entity_id) or entity_id == "./")


def metadata_declared_files(metadata: Any) -> tuple[dict, dict[str, str]]:
    """The root dataset and local File entities → declared sha256 (all must have one)."""
    if not isinstance(metadata, dict) or not isinstance(metadata.get("@graph"), list):
        raise refuse("the metadata has no @graph.")
    by_id = {e.get("@id"): e for e in metadata["@graph"] if isinstance(e, dict) and isinstance(e.get("@id"), str)}
    descriptor = by_id.get(METADATA)
    if not descriptor or (descriptor.get("about") or {}).get("@id") != "./":
        raise refuse("the metadata descriptor is missing or not about ./.")
    root = by_id.get("./")
    types = root.get("@type") if root else None
    if not root or "Dataset" not in (types if isinstance(types, list) else [types]):
        raise refuse("no root Dataset.")
    declared: dict[str, str] = {}
    for entity_id, entity in by_id.items():
        types = entity.get("@type")
        types = types if isinstance(types, list) else [types]
        if "File" not in types or not _is_local(entity_id):
            continue
        sha = entity.get("sha256")
        ident = entity.get("identifier")
        if not sha and isinstance(ident, str) and ident.startswith("sha256:"):
            sha = ident[len("sha256:") :]
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise refuse(f"file {entity_id!r} has no sha256.")
        declared[entity_id] = sha
    return root, declared
