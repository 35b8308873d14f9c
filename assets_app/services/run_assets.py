"""Assets a run writes and reads through its ``RunContext``: error traces, checkpoints and input lookup.

Invariants:
- ``asset_resolve_for_run`` searches run → experiment → project → workspace; the first
  scope holding the name wins, there the newest (or pinned) version. A reproduction's
  ``run.input_pins`` win over the search; a pinned asset that is gone is an error,
  never "the newest". Every resolution records an ``AssetUse`` (lineage).
- An error trace's fingerprint ignores line numbers, so the same failure groups
  together across edits; checkpoints chain to the run's previous one (``parent``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q

from runs_app.models import Execution, Run

from ..choices import AssetKind, ScopeKind
from ..models import Asset, AssetAlias
from .blobs import StoredBlob, blob_store_bytes
from .registration import asset_create, asset_use_record


def error_fingerprint(exception_type: str, frames: list[tuple[str, str]]) -> str:
    """Exception type plus normalized frames (file base name and function, no line numbers)."""
    normalized = [f"{Path(filename).name}:{function}" for filename, function in frames]
    return hashlib.sha256("|".join([exception_type, *normalized]).encode("utf-8")).hexdigest()[:32]


def error_trace_create(
    *,
    run: Run,
    execution: Execution,
    task: str,
    exception_type: str,
    message: str,
    traceback_text: str,
    frames: list[tuple[str, str]],
) -> Asset:
    """Save an ``ErrorTraceAsset`` with the traceback as its file and its fingerprint."""
    blob = blob_store_bytes(traceback_text.encode("utf-8", errors="replace"))
    return asset_create(
        kind=AssetKind.ERROR_TRACE,
        name=f"error-{task or 'run'}",
        run=run,
        blob=blob,
        media_type="text/plain",
        producer_execution=execution,
        producer_task=task,
        exception_type=exception_type[:255],
        exception_message=message,
        traceback=traceback_text,
        fingerprint=error_fingerprint(exception_type, frames),
        search_extra=f"{exception_type} {message} {traceback_text}",
        metadata={"frames": [f"{Path(f).name}:{fn}" for f, fn in frames[-20:]]},
    )


# --- run-time helpers used by the RunContext ----------------------------------------


class AssetLookupError(LookupError):
    """No asset of that name in any scope searched; ``scopes`` lists them, narrowest first."""

    def __init__(self, message: str, scopes: list[str]) -> None:
        super().__init__(message)
        self.scopes = scopes


def _name_and_version(name: str, version: int | str | None) -> tuple[str, int | str | None]:
    """A digit string is a version number, any other string an alias."""
    if isinstance(version, str):
        version = version.strip()
        if version.isdigit():
            return name, int(version)
        if not version:
            raise AssetLookupError(f"An empty version or alias for {name!r}", [])
    return name, version


def asset_resolve_for_run(
    *,
    run: Run,
    execution: Execution | None,
    task: str,
    name: str,
    kind: str | None = None,
    version: int | str | None = None,
) -> Asset:
    """Find ``name`` in run → experiment → project → workspace and record an ``AssetUse``.

    The first scope that has the name wins; there the newest version is taken,
    or ``version`` when pinned: a number, or an alias (``version="paper"``, SPEC §14).
    ``name@3`` and ``name@paper`` are the same as passing ``version`` (a name holding ``@``
    that matches nothing that way is looked up literally). One query finds
    the candidates of all scopes. Raises ``AssetLookupError`` listing the scopes searched.

    A reproduction's ``run.input_pins`` (name → asset id) wins: it returns exactly
    that asset (still within the run's workspace), unless ``kind``/``version`` ask
    for another one; a pinned asset that is gone is an error, never "the newest".
    """
    from django.db.models import Case, IntegerField, Value, When

    if version is None and "@" in name:
        try:
            return asset_resolve_for_run(
                run=run, execution=execution, task=task, name=name.rpartition("@")[0], kind=kind,
                version=name.rpartition("@")[2],
            )  # fmt: skip
        except AssetLookupError:
            pass  # "@" may be part of the name itself: look it up literally below
    name, version = _name_and_version(name, version)
    alias = version if isinstance(version, str) else None
    version = None if alias is not None else version
    pinned = (run.input_pins or {}).get(name)
    if pinned is not None:
        asset = Asset.objects.filter(pk=pinned, workspace_id=run.workspace_id).first()
        if asset is None:
            raise AssetLookupError(f"The pinned input {name!r} (asset id {pinned}) is no longer there", ["pinned"])
        if (not kind or asset.kind == kind) and (version is None or asset.version == version) and alias is None:
            asset = asset.as_kind()
            asset_use_record(asset=asset, run=run, execution=execution, task_name=task)
            return asset
    order = [
        (ScopeKind.RUN, Q(scope=ScopeKind.RUN, run_id=run.pk), f"run #{run.number}"),
        (ScopeKind.EXPERIMENT, Q(scope=ScopeKind.EXPERIMENT, experiment_id=run.experiment_id), "experiment"),
        (ScopeKind.PROJECT, Q(scope=ScopeKind.PROJECT, project_id=run.project_id), "project"),
        (ScopeKind.WORKSPACE, Q(scope=ScopeKind.WORKSPACE, workspace_id=run.workspace_id), "workspace"),
    ]
    where = Q()
    for _, q, _label in order:
        where |= q
    qs = Asset.objects.filter(where, workspace_id=run.workspace_id, name=name)
    if kind:
        qs = qs.filter(kind=kind)
    if version is not None:
        qs = qs.filter(version=version)
    if alias is not None:  # the aliased version of the name in each scope (one per scope and kind)
        qs = qs.filter(pk__in=AssetAlias.objects.filter(workspace_id=run.workspace_id, name=name, alias=alias)
                       .values("asset_id"))  # fmt: skip
    # Innermost scope first, then its newest version: one row, however many versions the
    # wider scopes hold (a newest-first window over all scopes could miss the run's own).
    rank = Case(*(When(scope=scope, then=Value(i)) for i, (scope, _q, _label) in enumerate(order)),
                output_field=IntegerField())  # fmt: skip
    found = qs.annotate(scope_rank=rank).order_by("scope_rank", "-version", "-id").values_list("id", flat=True)[:1]
    for asset_id in found:
        asset = Asset.objects.get(pk=asset_id).as_kind()
        asset_use_record(asset=asset, run=run, execution=execution, task_name=task)
        return asset
    searched = [label for _, _, label in order]
    what = f"{kind} asset" if kind else "asset"
    pinned = f" version {version}" if version is not None else f" alias {alias!r}" if alias is not None else ""
    raise AssetLookupError(f"No {what} {name!r}{pinned} in the scopes searched: {', '.join(searched)}", searched)


def checkpoint_create(
    *,
    run: Run,
    execution: Execution | None,
    task: str,
    name: str,
    data: Any = None,
    blob: StoredBlob | None = None,
    tags: Iterable[str] | None = None,
) -> Asset:
    """A ``CheckpointAsset`` chained (``parent``) to the run's previous checkpoint, with ``tags``.

    Raises ``ValidationError`` for data that is not JSON-serializable or bad tags.
    """
    try:
        json.dumps(data)
    except (TypeError, ValueError):
        raise ValidationError({"data": "Checkpoint data must be JSON-serializable."}) from None
    parent = Asset.objects.filter(run=run, kind=AssetKind.CHECKPOINT).order_by("-id").only("id").first()
    return asset_create(
        kind=AssetKind.CHECKPOINT,
        name=name,
        run=run,
        blob=blob,
        media_type="application/json" if blob is None else "",
        producer_execution=execution,
        producer_task=task,
        tags=tags,
        data=data,
        parent_id=parent.pk if parent else None,
    )
