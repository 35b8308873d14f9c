"""What every section builder of an RO-Crate export shares: the hashing zip writer and the graph being built.

Invariants:
- Bytes stream: a file is written chunk by chunk into the zip and hashed as it
  goes (:meth:`CrateWriter.write_chunks`); nothing holds an asset whole in memory.
- Every file written is remembered with its sha256 and size (``writer.files``);
  :meth:`CrateBuild.add_file` describes it in the graph with that same sha256, so
  the metadata's checksums are always those of the bytes in the zip.
- Zip paths built from labels (:func:`safe_part`, :func:`workflow_path`) never
  hold ``..``, ``.``, an empty part, a backslash or a character outside
  ``[A-Za-z0-9._-]`` (the importer refuses such names).
- Graph order is the order builders are called in (``export.crate_export``).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ..zipsafety import CHUNK


def safe_part(text: str, limit: int = 120) -> str:
    """A zip-path component from any label: ASCII letters, digits, ``._-``; never ``.``/``..``."""
    part = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:limit]
    return part or "file"


def workflow_path(workflow_source: str) -> str:
    """The crate path of the workflow file named ``workflow_source`` (under ``workflow/``)."""
    parts = [
        safe_part(p) for p in PurePosixPath(workflow_source.replace("\\", "/")).parts if p not in ("", ".", "..", "/")
    ]
    return "workflow/" + "/".join(parts or ["workflow.py"])


def iso(value) -> str | None:
    return value.isoformat() if value else None


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")


def file_entity(path: str, entry: dict, **props: Any) -> dict:
    """A ``File`` entity of the graph for a file written with ``entry`` (its sha256 and size)."""
    return {
        "@id": path,
        "@type": "File",
        "contentSize": str(entry["size"]),
        "sha256": entry["sha256"],
        "identifier": f"sha256:{entry['sha256']}",
        **props,
    }


@dataclass
class CrateWriter:
    """Writes files into the zip, hashing as it goes; remembers each file's sha256 and size."""

    zf: zipfile.ZipFile
    files: dict[str, dict] = field(default_factory=dict)

    def write_chunks(self, path: str, chunks: Iterator[bytes]) -> dict:
        digest, size = hashlib.sha256(), 0
        with self.zf.open(path, "w", force_zip64=True) as out:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        entry = {"sha256": digest.hexdigest(), "size": size}
        self.files[path] = entry
        return entry

    def write_bytes(self, path: str, data: bytes) -> dict:
        return self.write_chunks(path, iter([data]))

    def write_asset(self, path: str, asset: Any) -> dict:
        """An asset's bytes (``asset.open``), streamed in ``CHUNK`` pieces."""

        def chunks() -> Iterator[bytes]:
            with asset.open("rb") as fh:
                yield from iter(lambda: fh.read(CHUNK), b"")

        return self.write_chunks(path, chunks())


@dataclass
class CrateBuild:
    """One export in progress: the writer, the graph's entities and the root's ``hasPart`` list."""

    writer: CrateWriter
    graph: list[dict] = field(default_factory=list)
    parts: list[dict] = field(default_factory=list)

    def add_file(self, path: str, entry: dict, **props: Any) -> None:
        """Describe a written file in the graph and list it as a part of the root dataset."""
        self.graph.append(file_entity(path, entry, **props))
        self.parts.append({"@id": path})

    def add_once(self, entity: dict) -> None:
        """Add a contextual entity unless one with its ``@id`` is already in the graph."""
        if not any(e.get("@id") == entity["@id"] for e in self.graph):
            self.graph.append(entity)
