"""Portable runs: export a run as an RO-Crate zip and import such a crate into another workspace.

Where the code lives: a crate is half run record (``runs_app``) and half
asset bytes (``assets_app``). This module builds and reads crates because it
needs both the blob store and the asset rows, and ``assets_app`` may import
``runs_app`` models (SPEC §1). Every ``runs_app`` row of an import is written
by ``runs_app.services.crate_import.run_import_create``; every asset row and
byte here by ``asset_create``/``blob_store_chunks``.

Crate layout (RO-Crate 1.1, Workflow Run Crate and Process Run Crate profiles)::

    ro-crate-metadata.json       the JSON-LD graph (written last: it carries every file's sha256)
    workflow/<workflow_source>   the snapshot bytes (ComputationalWorkflow, mainEntity)
    molcfg.yaml  config.json     the profile file as snapshot and the merged config (with config_hash)
    inputs/…                     input assets (bytes, or only referenced by sha256: ``inputs=reference``)
    outputs/<kind>/…             artifacts, logs, checkpoints, error traces
    environment/execution-N.json python, platform, packages of each execution
    events.json  metrics.json    the run's status history and metric points
    molexp/run.json              the lossless MolExp record the importer re-registers

Invariants:
- Export streams: asset bytes are copied chunk by chunk into the zip (a file
  or temporary file), never held whole in memory.
- Import checks before it writes: zip safety (no absolute paths, no ``..``,
  no symlinks, no duplicates, entry/size caps and a compression-ratio guard),
  the metadata parses, every file is declared with a sha256 that matches,
  and nothing undeclared is present. A refused crate creates no rows.
- Imported assets keep the original sha256; their bytes are stored
  content-addressed. Inputs exported by reference become records without
  bytes (``metadata["crate_bytes"] == "referenced"``).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from runs_app.choices import Role
from runs_app.models import Execution, Project, Run, Workspace

from .. import storage
from ..choices import AssetKind
from ..models import Asset, AssetUse
from .blobs import CHUNK, StoredBlob, blob_store_chunks
from .crate_limits import (
    CrateLimits,
    crate_check_counts,
    crate_check_json_budget,
    crate_check_source,
    crate_check_zip,
    crate_read_json,
    crate_source_url,
    refuse,
)
from .registration import asset_create, asset_use_record

METADATA = "ro-crate-metadata.json"
RECORD = "molexp/run.json"
RECORD_FORMAT = "molexp-run/1"
INPUT_MODES = ("include", "reference")

RO_CRATE_CONTEXT = "https://w3id.org/ro/crate/1.1/context"
WFRUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": "Process Run Crate",
    "https://w3id.org/ro/wfrun/workflow/0.5": "Workflow Run Crate",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "Workflow RO-Crate",
}
ACTION_STATUS = {
    "succeeded": "http://schema.org/CompletedActionStatus",
    "failed": "http://schema.org/FailedActionStatus",
    "cancelled": "http://schema.org/FailedActionStatus",
    "lost": "http://schema.org/FailedActionStatus",
    "queued": "http://schema.org/PotentialActionStatus",
    "running": "http://schema.org/ActiveActionStatus",
    "cancelling": "http://schema.org/ActiveActionStatus",
}


def _safe_part(text: str, limit: int = 120) -> str:
    """A zip-path component from any label: ASCII letters, digits, ``._-``; never ``.``/``..``."""
    part = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:limit]
    return part or "file"


def _workflow_path(workflow_source: str) -> str:
    parts = [
        _safe_part(p) for p in PurePosixPath(workflow_source.replace("\\", "/")).parts if p not in ("", ".", "..", "/")
    ]
    return "workflow/" + "/".join(parts or ["workflow.py"])


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")


# --- export ---------------------------------------------------------------------------------------


@dataclass
class _Writer:
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

    def write_asset(self, path: str, asset: Asset) -> dict:
        def chunks() -> Iterator[bytes]:
            with asset.open("rb") as fh:
                yield from iter(lambda: fh.read(CHUNK), b"")

        return self.write_chunks(path, chunks())


def _export_bundle(w: _Writer, graph: list, parts: list, *, snapshot: dict, workflow_id: str | None) -> dict[str, str]:
    """Write every file of the run's code snapshot under ``workflow/`` (the workflow file is already there).

    Returns manifest path → crate path. A file whose bytes are not in storage is left out
    (the manifest in ``molexp/run.json`` still names it with its sha256).
    """
    manifest = snapshot.get("files") if isinstance(snapshot.get("files"), dict) else {}
    written: dict[str, str] = {}
    for rel, item in sorted(manifest.items()):
        if _workflow_path(rel) == workflow_id:
            written[rel] = workflow_id
            continue
        # Python names keep their underscores (``__init__.py``); only what could escape is replaced.
        names = [re.sub(r"[^A-Za-z0-9._-]+", "_", p).lstrip(".") or "file" for p in PurePosixPath(rel).parts]
        path = "workflow/" + "/".join(names)
        if (
            path in w.files
            or not isinstance(item, dict)
            or not storage.exists(storage.code_blob_name(str(item.get("sha256"))))
        ):
            continue

        def chunks(sha: str = str(item["sha256"])) -> Iterator[bytes]:
            with storage.open_read(storage.code_blob_name(sha)) as fh:
                yield from iter(lambda: fh.read(CHUNK), b"")

        entry = w.write_chunks(path, chunks())
        props: dict[str, Any] = {"name": rel, "description": "Part of the code snapshot at launch (SPEC §12)."}
        if rel.endswith(".py"):
            props.update({"@type": ["File", "SoftwareSourceCode"], "programmingLanguage": {"@id": "#python"},
                          "encodingFormat": "text/x-python"})  # fmt: skip
        graph.append(_file_entity(path, entry, **props))
        parts.append({"@id": path})
        written[rel] = path
    return written


def _import_bundle(zf: zipfile.ZipFile, files: dict, declared: dict[str, str], record: dict) -> None:
    """Keep the code snapshot files of a crate as inert bytes (content-addressed; never imported or run).

    Only files whose crate sha256 (already checked) equals the sha256 the run's manifest
    names are stored, so the manifest of an imported run only ever points at matching bytes.
    """
    bundle = record.get("bundle") if isinstance(record.get("bundle"), dict) else {}
    paths = bundle.get("files") if isinstance(bundle.get("files"), dict) else {}
    snapshot = (record.get("run") or {}).get("workflow_snapshot") or {}
    manifest = snapshot.get("files") if isinstance(snapshot, dict) and isinstance(snapshot.get("files"), dict) else {}
    for rel, path in paths.items():
        item = manifest.get(rel)
        if not isinstance(item, dict) or not isinstance(path, str) or path not in files:
            continue
        sha = str(item.get("sha256") or "")
        if declared.get(path) != sha or storage.exists(storage.code_blob_name(sha)):
            continue
        info = files[path]
        if info.file_size > settings.MOLEXP_SNAPSHOT_MAX_BYTES:
            continue
        storage.put_bytes(storage.code_blob_name(sha), b"".join(_member_chunks(zf, info)))


def _file_entity(path: str, entry: dict, **props: Any) -> dict:
    return {
        "@id": path,
        "@type": "File",
        "contentSize": str(entry["size"]),
        "sha256": entry["sha256"],
        "identifier": f"sha256:{entry['sha256']}",
        **props,
    }


def _asset_record(asset: Asset, *, role: str, path: str | None, execution_numbers: dict[int, int]) -> dict:
    return {
        "id": asset.pk,
        "role": role,
        "kind": asset.kind,
        "name": asset.name,
        "version": asset.version,
        "scope": asset.scope,
        "path": path,
        "sha256": asset.sha256,
        "size": asset.size,
        "media_type": asset.media_type,
        "tags": asset.tags or [],
        "description": asset.description,
        "metadata": asset.metadata or {},
        "producer_task": asset.producer_task,
        "producer_execution": execution_numbers.get(asset.producer_execution_id),
        "source_path": asset.source_path,
        "import_action": asset.import_action,
        "line_count": asset.line_count,
        "data": asset.data,
        "parent": asset.parent_id,
        "exception_type": asset.exception_type,
        "exception_message": asset.exception_message,
        "traceback": asset.traceback,
        "fingerprint": asset.fingerprint,
        "created_at": _iso(asset.created_at),
    }


def crate_export(*, user, run: Run, out: IO[bytes], inputs: str = "include", source_url: str = "") -> dict:
    """Write ``run`` as an RO-Crate zip to ``out`` (any member who can read the run).

    ``inputs="include"`` copies the input assets' bytes; ``"reference"`` lists them
    by name and sha256 only. ``source_url`` (the run page) goes into the crate.
    Returns a summary (file count, crate name). Raises ``Http404`` for a
    non-member and ``ValidationError`` for an unknown ``inputs`` mode.
    """
    from runs_app.access import workspace_require_role

    workspace_require_role(user=user, workspace=run.workspace, role=Role.VIEWER)
    if inputs not in INPUT_MODES:
        raise ValidationError({"inputs": f"inputs must be one of {', '.join(INPUT_MODES)}."})
    run = Run.objects.select_related("experiment", "project", "workspace", "source_blob", "launched_by").get(pk=run.pk)
    executions = list(Execution.objects.filter(run=run).prefetch_related("task_executions").order_by("number"))
    exec_numbers = {e.pk: e.number for e in executions}
    uses = list(AssetUse.objects.filter(run=run).select_related("asset").order_by("id"))
    outputs = [a.as_kind() for a in Asset.objects.filter(run=run).order_by("id")]
    snapshot = dict(run.workflow_snapshot or {})
    crate_name = f"{run.experiment.name} run {run.number}"
    exported_at = timezone.now()

    graph: list[dict] = []
    parts: list[dict] = []
    records: list[dict] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        w = _Writer(zf)

        # Workflow snapshot, profile file, merged config.
        workflow_id = None
        if run.source_blob is not None:
            workflow_id = _workflow_path(
                snapshot.get("workflow_source") or run.experiment.workflow_source or "workflow.py"
            )
            entry = w.write_bytes(workflow_id, bytes(run.source_blob.content))
            graph.append(
                _file_entity(
                    workflow_id,
                    entry,
                    **{"@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"]},
                    name=snapshot.get("workflow_name") or run.experiment.workflow_name or workflow_id,
                    programmingLanguage={"@id": "#python"},
                    encodingFormat="text/x-python",
                    version=snapshot.get("topology_hash", ""),
                    description="The workflow source as snapshot at launch (the bytes the worker executed).",
                )
            )
            parts.append({"@id": workflow_id})
        bundle_paths = _export_bundle(w, graph, parts, snapshot=snapshot, workflow_id=workflow_id)
        params_ids = []
        if snapshot.get("molcfg"):
            entry = w.write_bytes("molcfg.yaml", str(snapshot["molcfg"]).encode("utf-8"))
            graph.append(_file_entity("molcfg.yaml", entry, name="molcfg.yaml (profiles, as snapshot at launch)",
                                      encodingFormat="application/yaml"))  # fmt: skip
            parts.append({"@id": "molcfg.yaml"})
            params_ids.append({"@id": "molcfg.yaml"})
        entry = w.write_bytes("config.json", _json_bytes(run.config or {}))
        graph.append(
            _file_entity(
                "config.json",
                entry,
                name=f"Merged configuration (profile {run.profile or 'default'})",
                encodingFormat="application/json",
                description=f"config_hash {run.config_hash}",
                about={"@id": "#config_hash"},
            )
        )
        graph.append({"@id": "#config_hash", "@type": "PropertyValue", "name": "config_hash",
                      "propertyID": "config_hash", "value": run.config_hash})  # fmt: skip
        parts.append({"@id": "config.json"})
        params_ids.append({"@id": "config.json"})
        if snapshot.get("git_diff"):
            entry = w.write_bytes("git.diff", str(snapshot["git_diff"]).encode("utf-8"))
            graph.append(_file_entity("git.diff", entry, name="Uncommitted changes at launch",
                                      encodingFormat="text/x-diff"))  # fmt: skip
            parts.append({"@id": "git.diff"})

        # Inputs: the asset versions the run resolved (lineage).
        input_ids: dict[int, str] = {}
        for use in uses:
            asset = use.asset.as_kind()
            if asset.pk in input_ids:
                continue
            if inputs == "include" and asset.file:
                path = f"inputs/{asset.pk}-{_safe_part(asset.name)}"
                entry = w.write_asset(path, asset)
                graph.append(_file_entity(path, entry, name=asset.name, encodingFormat=asset.media_type,
                                          version=str(asset.version)))  # fmt: skip
                parts.append({"@id": path})
                input_ids[asset.pk] = path
                records.append(_asset_record(asset, role="input", path=path, execution_numbers=exec_numbers))
                records[-1].update(sha256=entry["sha256"], size=entry["size"])  # the bytes as exported
            else:
                ref = f"urn:sha256:{asset.sha256}" if asset.sha256 else f"#input-{asset.pk}"
                graph.append({"@id": ref, "@type": "File", "name": asset.name, "sha256": asset.sha256,
                              "contentSize": str(asset.size), "encodingFormat": asset.media_type,
                              "version": str(asset.version),
                              "description": "Input referenced by name and SHA-256 only (bytes not included)."})  # fmt: skip
                parts.append({"@id": ref})
                input_ids[asset.pk] = ref
                records.append(_asset_record(asset, role="input", path=None, execution_numbers=exec_numbers))

        # Outputs: artifacts, logs, checkpoints, error traces of this run.
        output_ids: dict[int, str] = {}
        for asset in outputs:
            path = f"outputs/{asset.kind}/{asset.pk}-v{asset.version}-{_safe_part(asset.name)}"
            if asset.file:
                entry = w.write_asset(path, asset)
            elif asset.kind == AssetKind.CHECKPOINT:
                path += ".json"
                entry = w.write_bytes(path, _json_bytes(asset.data))
            else:
                records.append(_asset_record(asset, role="output", path=None, execution_numbers=exec_numbers))
                continue
            props: dict[str, Any] = {"name": asset.name, "encodingFormat": asset.media_type or "application/json",
                                     "version": str(asset.version)}  # fmt: skip
            if asset.kind == AssetKind.ERROR_TRACE:
                props["description"] = f"{asset.exception_type}: {asset.exception_message}"[:2000]
            if asset.producer_execution_id in exec_numbers:
                props["about"] = {"@id": f"#execution-{exec_numbers[asset.producer_execution_id]}"}
            graph.append(_file_entity(path, entry, **props))
            parts.append({"@id": path})
            output_ids[asset.pk] = path
            records.append(_asset_record(asset, role="output", path=path, execution_numbers=exec_numbers))
            if asset.file:
                records[-1].update(sha256=entry["sha256"], size=entry["size"])  # the bytes as exported

        # Executions as CreateActions (Process/Workflow Run Crate), tasks as nested actions.
        actions: list[dict] = []
        for ex in executions:
            env_path = f"environment/execution-{ex.number}.json"
            entry = w.write_bytes(env_path, _json_bytes(ex.environment or {}))
            graph.append(_file_entity(env_path, entry, name=f"Environment of execution {ex.number}",
                                      encodingFormat="application/json",
                                      about={"@id": f"#execution-{ex.number}"}))  # fmt: skip
            parts.append({"@id": env_path})
            agent_id = f"#worker-{_safe_part(ex.worker_hostname or 'unknown')}-{ex.worker_pid or 0}"
            if not any(e.get("@id") == agent_id for e in graph):
                graph.append({"@id": agent_id, "@type": "SoftwareApplication",
                              "name": f"MolExp worker {ex.worker_hostname or '?'} (pid {ex.worker_pid or '?'})"})  # fmt: skip
            exec_inputs = [{"@id": input_ids[u.asset_id]} for u in uses if u.execution_id in (ex.pk, None)
                           and u.asset_id in input_ids]  # fmt: skip
            exec_outputs = [{"@id": output_ids[a.pk]} for a in outputs
                            if a.producer_execution_id == ex.pk and a.pk in output_ids]  # fmt: skip
            task_actions = []
            for t in ex.task_executions.all():
                task_id = f"#execution-{ex.number}-task-{_safe_part(t.task_name)}"
                step_id = f"#step-{_safe_part(t.task_name)}"
                if not any(e.get("@id") == step_id for e in graph):
                    graph.append({"@id": step_id, "@type": "HowToStep", "name": t.task_name})
                task_action = {
                    "@id": task_id,
                    "@type": "CreateAction",
                    "name": f"Task {t.task_name} (execution {ex.number})",
                    "instrument": {"@id": step_id},
                    "actionStatus": ACTION_STATUS.get(t.status, "http://schema.org/PotentialActionStatus"),
                    "result": [
                        {"@id": output_ids[a.pk]}
                        for a in outputs
                        if a.producer_execution_id == ex.pk and a.producer_task == t.task_name and a.pk in output_ids
                    ],  # fmt: skip
                    "object": [
                        {"@id": input_ids[u.asset_id]}
                        for u in uses
                        if u.execution_id == ex.pk and u.task_name == t.task_name and u.asset_id in input_ids
                    ],  # fmt: skip
                }
                if t.started_at:
                    task_action["startTime"] = _iso(t.started_at)
                if t.finished_at:
                    task_action["endTime"] = _iso(t.finished_at)
                if t.reused:
                    task_action["description"] = "Output reused from a previous execution (resume)."
                if t.error:
                    task_action["error"] = json.dumps(t.error, default=str)[:2000]
                graph.append(task_action)
                task_actions.append({"@id": task_id})
            action = {
                "@id": f"#execution-{ex.number}",
                "@type": "CreateAction",
                "name": f"Execution {ex.number} of run {run.number} ({ex.trigger})",
                "instrument": {"@id": workflow_id} if workflow_id else None,
                "agent": {"@id": agent_id},
                "actionStatus": ACTION_STATUS.get(ex.status, "http://schema.org/PotentialActionStatus"),
                "object": [*exec_inputs, *params_ids],
                "result": exec_outputs,
                "hasPart": task_actions,
            }
            if ex.started_at or ex.queued_at:
                action["startTime"] = _iso(ex.started_at or ex.queued_at)
            if ex.finished_at:
                action["endTime"] = _iso(ex.finished_at)
            if ex.error:
                action["error"] = json.dumps(ex.error, default=str)[:2000]
            graph.append({k: v for k, v in action.items() if v is not None})
            actions.append({"@id": action["@id"]})

        # History, metrics and the MolExp record.
        events = [
            {"execution": exec_numbers.get(e.execution_id), "subject": e.subject, "created_at": _iso(e.created_at),
             "from_status": e.from_status, "to_status": e.to_status, "message": e.message}
            for e in run.events.order_by("id")
        ]  # fmt: skip
        entry = w.write_bytes("events.json", _json_bytes(events))
        graph.append(_file_entity("events.json", entry, name="Run events (status history)",
                                  encodingFormat="application/json"))  # fmt: skip
        parts.append({"@id": "events.json"})
        metrics = [
            {"execution": exec_numbers.get(m.execution_id), "key": m.key, "step": m.step, "value": m.value,
             "created_at": _iso(m.created_at)}
            for m in run.metrics.order_by("key", "step", "id").iterator(chunk_size=2000)
        ]  # fmt: skip
        entry = w.write_bytes("metrics.json", _json_bytes(metrics))
        graph.append(_file_entity("metrics.json", entry, name="Metric points", encodingFormat="application/json"))
        parts.append({"@id": "metrics.json"})

        exp = run.experiment
        record = {
            "format": RECORD_FORMAT,
            "exported_at": _iso(exported_at),
            "source_url": source_url,
            "inputs": inputs,
            "workspace": {"id": run.workspace_id, "slug": run.workspace.slug, "name": run.workspace.name},
            "project": {"id": run.project_id, "slug": run.project.slug, "name": run.project.name},
            "experiment": {
                "id": exp.pk,
                "slug": exp.slug,
                "name": exp.name,
                "description": exp.description,
                "workflow_source": exp.workflow_source,
                "workflow_name": exp.workflow_name,
                "topology": exp.topology,
                "git_commit": exp.git_commit,
                "git_branch": exp.git_branch,
                "git_dirty": exp.git_dirty,
                "git_diff": exp.git_diff,
            },  # fmt: skip
            "workflow": {"path": workflow_id, "sha256": run.source_blob.sha256 if run.source_blob else None},
            # SPEC §12: every file of the code snapshot, manifest path → path in the crate.
            "bundle": {"snapshot_hash": snapshot.get("snapshot_hash", ""), "files": bundle_paths},
            "run": {
                "id": run.pk,
                "number": run.number,
                "status": run.status,
                "params": run.params,
                "profile": run.profile,
                "config": run.config,
                "config_hash": run.config_hash,
                "overrides": run.overrides,
                "workflow_snapshot": snapshot,
                "results": run.results,
                "error": run.error,
                "created_at": _iso(run.created_at),
                "started_at": _iso(run.started_at),
                "finished_at": _iso(run.finished_at),
                "launched_by": run.launched_by.get_username() if run.launched_by else None,
            },  # fmt: skip
            "executions": [
                {
                    "id": ex.pk,
                    "uuid": str(ex.uuid),
                    "number": ex.number,
                    "trigger": ex.trigger,
                    "status": ex.status,
                    "worker_hostname": ex.worker_hostname,
                    "worker_pid": ex.worker_pid,
                    "celery_task_id": ex.celery_task_id,
                    "queued_at": _iso(ex.queued_at),
                    "dispatched_at": _iso(ex.dispatched_at),
                    "started_at": _iso(ex.started_at),
                    "finished_at": _iso(ex.finished_at),
                    "heartbeat_at": _iso(ex.heartbeat_at),
                    "environment": ex.environment,
                    "error": ex.error,
                    "tasks": [
                        {
                            "task_name": t.task_name,
                            "status": t.status,
                            "started_at": _iso(t.started_at),
                            "finished_at": _iso(t.finished_at),
                            "reused": t.reused,
                            "output_ref": t.output_ref,
                            "error": t.error,
                        }
                        for t in ex.task_executions.all()
                    ],
                }  # fmt: skip
                for ex in executions
            ],
            "assets": records,
            "asset_uses": [
                {"asset": u.asset_id, "execution": exec_numbers.get(u.execution_id), "task_name": u.task_name}
                for u in uses
            ],
        }
        entry = w.write_bytes(RECORD, _json_bytes(record))
        graph.append(_file_entity(RECORD, entry, name="MolExp run record (for re-import)",
                                  encodingFormat="application/json"))  # fmt: skip
        parts.append({"@id": RECORD})

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
            "description": f"MolExp run {run.number} of experiment {exp.name} (project {run.project.name}), "
            f"status {run.status}; exported with inputs={inputs}.",
            "datePublished": _iso(exported_at),
            "conformsTo": [{"@id": uri} for uri in PROFILES],
            "hasPart": parts,
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
        zf.writestr(METADATA, _json_bytes(metadata))
    return {"name": crate_name, "files": len(w.files) + 1, "inputs": inputs}


def crate_filename(*, run: Run) -> str:
    """The download name of a run's crate: ``<experiment>-run-<n>.crate.zip`` (ASCII only)."""
    return f"{_safe_part(run.experiment.slug)}-run-{run.number}.crate.zip"


# --- import ---------------------------------------------------------------------------------------


_refuse = refuse


def _check_name(name: str) -> None:
    if not name or "\x00" in name or "\\" in name:
        raise _refuse(f"bad entry name {name!r}.")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _refuse(f"absolute path {name!r}.")
    parts = name.rstrip("/").split("/")
    if any(p in ("..", ".") for p in parts) or any(p == "" for p in parts):
        raise _refuse(f"path {name!r} leaves or bends the crate (.., . or //).")


def _check_entry(info: zipfile.ZipInfo) -> None:
    """One member's name and type: no traversal, no symlink or special file, not encrypted."""
    _check_name(info.filename)
    mode = (info.external_attr >> 16) & 0o170000
    if mode == 0o120000:
        raise _refuse(f"symbolic link {info.filename!r}.")
    if mode not in (0, 0o100000, 0o040000):
        raise _refuse(f"special file {info.filename!r}.")
    if info.flag_bits & 0x1:
        raise _refuse(f"encrypted entry {info.filename!r}.")


def _archive_size(fileobj: IO[bytes]) -> int:
    position = fileobj.tell()
    try:
        return fileobj.seek(0, 2)
    finally:
        fileobj.seek(position)


def _check_zip(zf: zipfile.ZipFile, *, archive_size: int, limits: CrateLimits) -> dict[str, zipfile.ZipInfo]:
    """Every member checked for safety, size and compression ratio before any byte is read; files by name."""
    return crate_check_zip(zf.infolist(), archive_size=archive_size, limits=limits, check_entry=_check_entry)


def _member_chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """A member's bytes in chunks; never more than it declared (zipfile also checks the CRC)."""
    read = 0
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                return
            read += len(chunk)
            if read > info.file_size:
                raise _refuse(f"{info.filename!r} is longer than it declares.")
            yield chunk


def _member_sha256(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    digest = hashlib.sha256()
    try:
        for chunk in _member_chunks(zf, info):
            digest.update(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise _refuse(f"{info.filename!r} cannot be read ({exc}).") from None
    return digest.hexdigest()


def _read_json(zf: zipfile.ZipFile, info: zipfile.ZipInfo, *, what: str, limits: CrateLimits) -> Any:
    return crate_read_json(_member_chunks(zf, info), info, what=what, limits=limits)


def _is_local(entity_id: str) -> bool:
    return not (entity_id.startswith("#") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", entity_id) or entity_id == "./")


def _declared_files(metadata: Any) -> tuple[dict, dict[str, str]]:
    """The root dataset and local File entities → declared sha256 (all must have one)."""
    if not isinstance(metadata, dict) or not isinstance(metadata.get("@graph"), list):
        raise _refuse("the metadata has no @graph.")
    by_id = {e.get("@id"): e for e in metadata["@graph"] if isinstance(e, dict) and isinstance(e.get("@id"), str)}
    descriptor = by_id.get(METADATA)
    if not descriptor or (descriptor.get("about") or {}).get("@id") != "./":
        raise _refuse("the metadata descriptor is missing or not about ./.")
    root = by_id.get("./")
    types = root.get("@type") if root else None
    if not root or "Dataset" not in (types if isinstance(types, list) else [types]):
        raise _refuse("no root Dataset.")
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
            raise _refuse(f"file {entity_id!r} has no sha256.")
        declared[entity_id] = sha
    return root, declared


@dataclass
class CrateImportResult:
    run: Run
    assets: list[Asset]
    referenced: int


def crate_import(
    *,
    user,
    workspace: Workspace,
    fileobj: IO[bytes],
    project: Project | None = None,
    crate_name: str = "",
) -> CrateImportResult:
    """Import a MolExp run crate into ``workspace`` (editor or owner): a read-only record marked imported.

    ``fileobj`` is a seekable zip. Checks everything first (see the module
    docstring), then stores the bytes content-addressed and, in one transaction,
    creates the project/experiment (reused by slug; or ``project``), the run with
    its history (``runs_app.services.crate_import``) and its assets
    (``imported=True``, same sha256). Raises ``ValidationError`` (a refused crate:
    nothing created), ``PermissionDenied`` (viewer) or ``Http404`` (non-member).
    """
    from runs_app.access import workspace_require_role

    workspace_require_role(user=user, workspace=workspace, role=Role.EDITOR)
    if project is not None and project.workspace_id != workspace.pk:
        raise ValidationError({"project": "That project is not in the target workspace."})
    limits = CrateLimits.from_settings()
    try:
        archive_size = _archive_size(fileobj)
        zf = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise _refuse(f"not a zip file ({exc}).") from None
    with zf:
        files = _check_zip(zf, archive_size=archive_size, limits=limits)
        if METADATA not in files:
            raise _refuse(f"no {METADATA}.")
        crate_check_json_budget(
            (files[name] for name in (METADATA, RECORD, "events.json", "metrics.json") if name in files), limits=limits
        )
        metadata = _read_json(zf, files[METADATA], what=METADATA, limits=limits)
        root, declared = _declared_files(metadata)
        del metadata  # only the root entity is kept: the graph is freed before the record is parsed
        undeclared = sorted(set(files) - set(declared) - {METADATA})
        if undeclared:
            raise _refuse(f"files not described in the metadata: {', '.join(undeclared[:5])}.")
        missing = sorted(set(declared) - set(files))
        if missing:
            raise _refuse(f"files described but absent: {', '.join(missing[:5])}.")
        # First pass: every checksum, before anything is stored.
        for path, sha in declared.items():
            if _member_sha256(zf, files[path]) != sha:
                raise _refuse(f"sha256 of {path!r} does not match the metadata.")
        if RECORD not in files:
            raise _refuse(f"not a MolExp run crate (no {RECORD}).")
        record = _read_json(zf, files[RECORD], what=RECORD, limits=limits)
        _check_record(record, files)
        for key in ("events", "metrics"):
            if f"{key}.json" in files:
                rows = _read_json(zf, files[f"{key}.json"], what=f"{key}.json", limits=limits)
                if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                    raise _refuse(f"{key}.json is not a list of objects.")
                record[key] = rows
        crate_check_counts(record, limits=limits)
        workflow = record.get("workflow") or {}
        if workflow.get("path"):
            crate_check_source(files[workflow["path"]], limits=limits)
        source_url = crate_source_url(record.get("source_url"), root.get("url"))

        # Second pass: store bytes content-addressed (slow I/O outside the transaction).
        blobs: dict[str, StoredBlob] = {}
        for entry in record["assets"]:
            path = entry.get("path")
            if path and path in files and path not in blobs:
                blob = blob_store_chunks(_member_chunks(zf, files[path]))
                if blob.sha256 != declared[path]:
                    raise _refuse(f"sha256 of {path!r} changed while reading.")
                blobs[path] = blob
        _import_bundle(zf, files, declared, record)
        source = None
        if workflow.get("path"):
            source = b"".join(_member_chunks(zf, files[workflow["path"]]))  # at most MOLEXP_CRATE_MAX_SOURCE_BYTES

    imported = {
        "crate": crate_name or root.get("name") or "",
        "original": {
            "workspace": record["workspace"],
            "project": record["project"],
            "experiment": {k: record["experiment"].get(k) for k in ("id", "slug", "name")},
            "run_id": record["run"].get("id"),
            "run_number": record["run"].get("number"),
            "execution_ids": {str(e.get("number")): e.get("id") for e in record["executions"]},
            "launched_by": record["run"].get("launched_by"),
        },
        "exported_at": record.get("exported_at"),
        "source_url": source_url,
        "inputs": record.get("inputs"),
        "imported_at": timezone.now().isoformat(),
        "imported_by": user.get_username() if getattr(user, "is_authenticated", False) else None,
    }
    try:
        return _register(user=user, workspace=workspace, project=project, record=record, source=source,
                         blobs=blobs, imported=imported)  # fmt: skip
    except ValidationError as exc:
        if any(m.startswith("Refused crate:") for m in exc.messages):
            raise
        raise _refuse("; ".join(exc.messages)) from None
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, DatabaseError) as exc:
        # A field of the record with the wrong type or value: the transaction rolled back, nothing exists.
        raise _refuse(f"the run record is malformed ({type(exc).__name__}: {str(exc)[:200]}).") from None


def _register(*, user, workspace, project, record: dict, source: bytes | None, blobs: dict, imported: dict):
    """The rows of an import, in one transaction (the checks and the blob bytes are done)."""
    from runs_app.services.crate_import import run_import_create

    with transaction.atomic():
        run, by_number = run_import_create(
            user=user if getattr(user, "is_authenticated", False) else None,
            workspace=workspace,
            project=project,
            record=record,
            source=source,
            source_sha256=hashlib.sha256(source).hexdigest() if source is not None else "",
            imported=imported,
        )
        assets, referenced, id_map = _assets_create(run=run, record=record, blobs=blobs, by_number=by_number,
                                                    user=user)  # fmt: skip
        for use in record.get("asset_uses") or []:
            if use.get("asset") in id_map:
                asset_use_record(asset=id_map[use["asset"]], run=run, execution=by_number.get(use.get("execution")),
                                 task_name=str(use.get("task_name") or ""))  # fmt: skip
        error = run.error
        if isinstance(error, dict) and error.get("traceback_asset") in id_map:
            error = {**error, "traceback_asset": id_map[error["traceback_asset"]].pk}
            Run.objects.filter(pk=run.pk).update(error=error)
            run.error = error
        imported["original"]["asset_ids"] = {str(new.pk): old for old, new in id_map.items()}
        Run.objects.filter(pk=run.pk).update(imported=imported)
        run.imported = imported
    return CrateImportResult(run=run, assets=assets, referenced=referenced)


def _check_record(record: Any, files: dict[str, zipfile.ZipInfo]) -> None:
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise _refuse(f"unknown record format (expected {RECORD_FORMAT}).")
    for key, kind in (("workspace", dict), ("project", dict), ("experiment", dict), ("run", dict),
                      ("executions", list), ("assets", list)):  # fmt: skip
        if not isinstance(record.get(key), kind):
            raise _refuse(f"the record's {key!r} is missing or malformed.")
    workflow = record.get("workflow") or {}
    if not isinstance(workflow, dict) or not isinstance(workflow.get("path") or "", str):
        raise _refuse("the record's 'workflow' is malformed.")
    if workflow.get("path") and workflow["path"] not in files:
        raise _refuse("the record names a workflow file that is not in the crate.")
    for entry in record["assets"]:
        if not isinstance(entry, dict) or entry.get("kind") not in AssetKind.values or not entry.get("name"):
            raise _refuse("an asset entry of the record is malformed.")
        if not isinstance(entry.get("path") or "", str):
            raise _refuse("an asset entry of the record is malformed.")
        if entry.get("path") and entry["path"] not in files:
            raise _refuse(f"asset file {entry['path']!r} is not in the crate.")


def _assets_create(
    *, run: Run, record: dict, blobs: dict[str, StoredBlob], by_number: dict[int, Execution], user
) -> tuple[list[Asset], int, dict[int, Asset]]:
    created: list[Asset] = []
    id_map: dict[int, Asset] = {}
    referenced = 0
    entries = sorted(
        record["assets"], key=lambda e: (e.get("role") != "input", e.get("version") or 0, e.get("id") or 0)
    )
    for entry in entries:
        kind = entry["kind"]
        path = entry.get("path")
        metadata = entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}
        blob = blobs.get(path) if path else None
        is_checkpoint_data = (
            kind == AssetKind.CHECKPOINT and path and str(path).endswith(".json") and not entry.get("sha256")
        )
        if is_checkpoint_data:
            blob = None  # the checkpoint was data only; its JSON file is a convenience copy
        if blob is not None and entry.get("sha256") and blob.sha256 != entry["sha256"]:
            raise _refuse(f"asset {entry['name']!r}: sha256 differs from the record.")
        if blob is None and entry.get("role") == "input" and entry.get("sha256"):
            # Referenced only: a record with the original checksum and size but no bytes.
            blob = StoredBlob(name="", sha256=str(entry["sha256"])[:64], size=int(entry.get("size") or 0))
            metadata = {**metadata, "crate_bytes": "referenced"}
            referenced += 1
        kind_fields: dict[str, Any] = {"imported": True}
        if kind == AssetKind.DATA:
            kind_fields.update(source_path=str(entry.get("source_path") or "")[:1000],
                               import_action=str(entry.get("import_action") or "")[:10])  # fmt: skip
        if kind == AssetKind.LOG:
            kind_fields["line_count"] = int(entry.get("line_count") or 0)
        if kind == AssetKind.CHECKPOINT:
            kind_fields["data"] = entry.get("data")
            parent = id_map.get(entry.get("parent"))
            kind_fields["parent_id"] = parent.pk if parent else None
        if kind == AssetKind.ERROR_TRACE:
            kind_fields.update(
                exception_type=str(entry.get("exception_type") or "")[:255],
                exception_message=str(entry.get("exception_message") or ""),
                traceback=str(entry.get("traceback") or ""),
                fingerprint=str(entry.get("fingerprint") or "")[:64],
            )
        asset = asset_create(
            kind=kind,
            name=entry["name"],
            run=run,
            blob=blob,
            media_type=str(entry.get("media_type") or ""),
            tags=entry.get("tags") if isinstance(entry.get("tags"), list) else [],
            description=str(entry.get("description") or ""),
            metadata=metadata,
            producer_execution=by_number.get(entry.get("producer_execution"))
            if entry.get("role") == "output"
            else None,
            producer_task=str(entry.get("producer_task") or "")[:200],
            search_extra=" ".join(str(entry.get(k) or "") for k in ("exception_type", "exception_message")),
            **kind_fields,
        )
        created.append(asset)
        if isinstance(entry.get("id"), int):
            id_map[entry["id"]] = asset
    return created, referenced, id_map
