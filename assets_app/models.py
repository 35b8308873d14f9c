"""The asset catalog: one table for every persistent by-product of the work.

``Asset`` rows carry a ``kind`` and the typed kinds (``DataAsset``,
``ArtifactAsset``, ``LogAsset``, ``CheckpointAsset``, ``ErrorTraceAsset``) are
proxy classes over the same table, so one query crosses kinds and scopes.
``workspace`` is always set; ``project``/``experiment``/``run`` narrow the scope.
A version is unique per (scope, kind, name). ``search_text`` is the text the
catalog indexes (name, tags, description, metadata, traceback, log text); on
PostgreSQL a stored tsvector column with a GIN index and a trigram index on the
name are added by migration ``0002``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import connections, models
from django.db.models.query import ModelIterable
from django.urls import reverse

from runs_app.models import Execution, Experiment, Project, Run, TrashEntry, Workspace
from runs_app.trash_models import trash_index

from . import storage
from .choices import AssetKind, ImportAction, ScopeKind, UploadStatus


class TypedAssetIterable(ModelIterable):
    """Yield each row as its typed proxy class (``DataAsset``, ``LogAsset``, …)."""

    def __iter__(self):
        for obj in super().__iter__():
            yield obj.as_kind()


def _glob_regex(pattern: str) -> str:
    """An anchored regular expression for a glob with ``*`` and ``?`` (other characters are literal)."""
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern]
    return "^" + "".join(parts) + "$"


class AssetQuerySet(models.QuerySet):
    def of_kind(self, kind: str) -> AssetQuerySet:
        return self.filter(kind=kind)

    def typed(self) -> AssetQuerySet:
        """The same rows, each returned as its typed kind."""
        clone = self._chain()
        clone._iterable_class = TypedAssetIterable
        return clone

    def catalog(
        self,
        *,
        kind: str | type | Iterable[str] | None = None,
        producer_task: str | None = None,
        tag: str | None = None,
        name: str | None = None,
        scope: str | None = None,
    ) -> AssetQuerySet:
        """The catalog filters behind ``<scope>.assets.query()``: typed assets, newest first.

        ``kind`` is a kind value, a typed class (``DataAsset``) or several kinds;
        ``name`` may be a glob (``*`` and ``?``); ``tag`` keeps assets carrying that tag;
        ``scope`` keeps only rows whose scope kind is exactly that one.
        """
        qs = self
        if kind is not None:
            if isinstance(kind, type):
                kind = kind.KIND
            if isinstance(kind, str):
                qs = qs.filter(kind=kind)
            else:
                qs = qs.filter(kind__in=[getattr(k, "KIND", k) for k in kind])
        if producer_task is not None:
            qs = qs.filter(producer_task=producer_task)
        if tag is not None:
            if connections[qs.db].features.supports_json_field_contains:
                qs = qs.filter(tags__contains=[tag])
            else:  # SQLite: match the JSON-encoded element
                qs = qs.filter(tags__icontains=json.dumps(tag))
        if name is not None:
            qs = qs.filter(name__regex=_glob_regex(name)) if ("*" in name or "?" in name) else qs.filter(name=name)
        if scope is not None:
            qs = qs.filter(scope=scope)
        return qs.order_by("-id").typed()


class KindManager(models.Manager):
    """Manager of a typed kind: only rows of that kind.

    Related managers (``workspace.assets``, ``project.assets``, ``experiment.assets``,
    ``run.assets``) are built from this class, so they offer :meth:`query` too.
    """

    def __init__(self, kind: str | None = None, *, live: bool = True) -> None:
        super().__init__()
        self.kind = kind
        self.live = live

    def get_queryset(self) -> AssetQuerySet:
        qs = AssetQuerySet(self.model, using=self._db)
        if self.live:  # rows in the trash are hidden everywhere (SPEC §14, runs_app/trash_models.py)
            qs = qs.filter(trash__isnull=True)
        return qs.filter(kind=self.kind) if self.kind else qs

    def query(
        self,
        *,
        kind: str | type | Iterable[str] | None = None,
        producer_task: str | None = None,
        tag: str | None = None,
        name: str | None = None,
        recursive: bool = True,
    ) -> AssetQuerySet:
        """Catalog view of this scope (SPEC §6): typed assets, newest first.

        On a related manager (``project.assets``) ``recursive=True`` covers that
        scope and every narrower one below it (project → its experiments → their
        runs), which is what the foreign key already selects; ``recursive=False``
        keeps only assets whose scope is exactly that object. (A queryset cannot
        carry a method called ``query``: Django uses that attribute for the SQL.)
        """
        field = getattr(self, "field", None)
        scope = None
        if not recursive and getattr(self, "instance", None) is not None and field is not None:
            if field.name in ScopeKind.values:
                scope = field.name
        return self.get_queryset().catalog(kind=kind, producer_task=producer_task, tag=tag, name=name, scope=scope)


class Asset(models.Model):
    """A typed, named, versioned, scoped file of the record (SPEC §3)."""

    KIND: str | None = None

    kind = models.CharField(max_length=12, choices=AssetKind.choices)
    name = models.CharField(max_length=255)
    version = models.PositiveIntegerField(default=1)
    scope = models.CharField(max_length=10, choices=ScopeKind.choices)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="assets")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="assets")
    experiment = models.ForeignKey(Experiment, null=True, blank=True, on_delete=models.CASCADE, related_name="assets")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.CASCADE, related_name="assets")
    # "<workspace>/<project>/<experiment>/<run>" with empty parts for wider scopes: one
    # portable key for the version uniqueness (NULLs would be distinct in SQLite).
    scope_key = models.CharField(max_length=100, editable=False)
    file = models.FileField(max_length=500, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    media_type = models.CharField(max_length=150, blank=True)
    tags = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    search_text = models.TextField(blank=True, help_text="Text indexed by the catalog search.")
    producer_run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="produced_assets"
    )
    producer_execution = models.ForeignKey(
        Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="produced_assets"
    )
    producer_task = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # data
    source_path = models.CharField(max_length=1000, blank=True)
    import_action = models.CharField(max_length=10, choices=ImportAction.choices, blank=True)
    # log
    line_count = models.PositiveBigIntegerField(default=0)
    # checkpoint
    data = models.JSONField(null=True, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    # error trace (its execution and task are the producer's)
    exception_type = models.CharField(max_length=255, blank=True)
    exception_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    imported = models.BooleanField(default=False, help_text="Registered from an imported crate (read-only).")
    retention_removed_at = models.DateTimeField(
        null=True, blank=True, help_text="SPEC §14: content removed by a retention policy (the row stays; 410)."
    )

    trash = models.ForeignKey(TrashEntry, null=True, blank=True, editable=False, on_delete=models.CASCADE, db_index=False,
                              related_name="+", help_text="Set while in the trash (SPEC §14).")  # fmt: skip

    objects = KindManager()
    all_objects = KindManager(live=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["scope_key", "kind", "name", "version"], name="asset_unique_version"),
        ]
        indexes = [
            trash_index("asset"),
            models.Index(fields=["workspace", "-id"], name="asset_ws_id"),
            models.Index(fields=["workspace", "kind", "-id"], name="asset_ws_kind_id"),
            # Catalog browse ?sort=newest/oldest seeks on (created_at, id) (keyset pages, SPEC §11).
            models.Index(fields=["workspace", "-created_at", "-id"], name="asset_ws_created_id"),
            models.Index(fields=["-created_at", "-id"], name="asset_created_id"),
            models.Index(fields=["workspace", "name", "-version"], name="asset_ws_name_version"),
            models.Index(fields=["sha256"], name="asset_sha256"),
            models.Index(fields=["producer_run", "-id"], name="asset_producer_run"),
            models.Index(fields=["run", "kind", "name"], name="asset_run_kind_name"),
            models.Index(fields=["experiment", "kind", "name"], name="asset_exp_kind_name"),
            models.Index(fields=["project", "kind", "name"], name="asset_project_kind_name"),
            models.Index(fields=["workspace", "fingerprint"], name="asset_ws_fingerprint"),
            # catalog search: newest-first walks that stop after a page of hits (sort=newest
            # across workspaces; a project filter with relevance's newest candidates)
            models.Index(fields=["project", "-id"], name="asset_project_id"),
            # Logs still being written (a folder of segments): the maintenance finalizes abandoned ones.
            models.Index(fields=["id"], condition=models.Q(kind="log", file__endswith="/"), name="asset_live_log"),
            # Blob garbage collection re-checks "does any row still point at these bytes" by name.
            models.Index(fields=["file"], name="asset_file"),
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.KIND and not self.kind:
            self.kind = self.KIND

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.kind})"

    @staticmethod
    def make_scope_key(workspace_id: int, project_id: int | None, experiment_id: int | None, run_id: int | None) -> str:
        return "/".join("" if v is None else str(v) for v in (workspace_id, project_id, experiment_id, run_id))

    def get_absolute_url(self) -> str:
        return reverse("assets:asset-detail", kwargs={"pk": self.pk})

    def open(self, mode: str = "rb"):
        """A seekable, read-only stream of the asset's bytes (with a ``size``), on any storage backend.

        A log still being written (its ``file`` is a folder of segments) reads as its segments joined.
        """
        if mode not in ("r", "rb"):
            raise ValueError("Asset bytes are read-only; writes go through assets_app.services")
        if not self.file:
            raise FileNotFoundError(f"Asset {self.name!r} v{self.version} has no file")
        name = self.file.name
        if name.endswith("/"):
            return storage.open_concat(storage.list_segments(name))
        return storage.open_read(name)

    def read_bytes(self) -> bytes:
        with self.open("rb") as fh:
            return fh.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    @property
    def path(self) -> str:
        """A local file-system path to the bytes (file-system storage only)."""
        return self.file.storage.path(self.file.name)

    def as_kind(self) -> Asset:
        """This row as its typed proxy class (DataAsset, LogAsset, …)."""
        cls = KIND_CLASSES.get(self.kind, Asset)
        if type(self) is not cls:
            self.__class__ = cls
        return self


class DataAsset(Asset):
    """An imported or uploaded dataset (source path and import action)."""

    KIND = AssetKind.DATA
    objects = KindManager(AssetKind.DATA)

    class Meta:
        proxy = True


class ArtifactAsset(Asset):
    """A file a task produced with ``ctx.artifact.save``."""

    KIND = AssetKind.ARTIFACT
    objects = KindManager(AssetKind.ARTIFACT)

    class Meta:
        proxy = True


class LogAsset(Asset):
    """A named log of a run, with its line count."""

    KIND = AssetKind.LOG
    objects = KindManager(AssetKind.LOG)

    class Meta:
        proxy = True


class CheckpointAsset(Asset):
    """A checkpoint of a run: JSON data and/or a file, chained to the previous one by ``parent``."""

    KIND = AssetKind.CHECKPOINT
    objects = KindManager(AssetKind.CHECKPOINT)

    class Meta:
        proxy = True


class ErrorTraceAsset(Asset):
    """A captured exception: type, message, traceback, failing task, and a fingerprint for grouping."""

    KIND = AssetKind.ERROR_TRACE
    objects = KindManager(AssetKind.ERROR_TRACE)

    class Meta:
        proxy = True


KIND_CLASSES: dict[str, type[Asset]] = {
    AssetKind.DATA: DataAsset,
    AssetKind.ARTIFACT: ArtifactAsset,
    AssetKind.LOG: LogAsset,
    AssetKind.CHECKPOINT: CheckpointAsset,
    AssetKind.ERROR_TRACE: ErrorTraceAsset,
}


class AssetUse(models.Model):
    """Lineage: a run (execution, task) resolved this asset version as an input."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="uses")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="asset_uses")
    execution = models.ForeignKey(Execution, null=True, blank=True, on_delete=models.CASCADE, related_name="asset_uses")
    task_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["asset", "-id"], name="assetuse_asset_id"),
            models.Index(fields=["run", "-id"], name="assetuse_run_id"),
        ]

    def __str__(self) -> str:
        return f"{self.run} used {self.asset}"


class Upload(models.Model):
    """A tus 1.0 upload in progress (SPEC §7): bytes go to a private partial file until complete.

    Only a complete upload whose length (and checksum, when the client sent
    one) matched becomes a ``DataAsset`` version (``asset``). ``partial_name``
    is a server-chosen name below the uploads folder; nothing the client sends
    becomes a path.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="uploads")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="uploads")
    experiment = models.ForeignKey(Experiment, null=True, blank=True, on_delete=models.CASCADE, related_name="uploads")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    filename = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    tags = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True, help_text="The decoded Upload-Metadata pairs.")
    length = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)
    partial_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=UploadStatus.choices, default=UploadStatus.RECEIVING)
    error = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    asset = models.ForeignKey(Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"], name="upload_status_expires")]

    def __str__(self) -> str:
        return f"upload {self.id} of {self.filename} ({self.offset}/{self.length})"


class BlobClaim(models.Model):
    """A writer's claim on a content-addressed object it is about to reference (docs/lifecycle.md).

    Every writer that stores bytes under a content-addressed name, or finds them stored
    already and skips the write, upserts this row (``claimed_at`` = now) *before* it
    checks whether the object exists. The garbage collector takes the same row (insert,
    then ``SELECT … FOR UPDATE``) in the transaction that re-checks references and
    deletes the bytes, so a writer either claims first (and the collector skips the
    name) or waits until the bytes are gone (and writes them again). ``claimed_at`` is
    empty on a row the collector inserted only to hold the lock.
    """

    name = models.CharField(max_length=255, unique=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class AssetAlias(models.Model):
    """A named pointer (``best``, ``paper-fig3``) at one version of an asset name in its scope (SPEC §14).

    Unique per (scope, kind, name, alias): moving it (``asset_alias_set``) points the same
    row at another version of that name; the move is recorded in the audit log.
    """

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="aliases")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="asset_aliases")
    scope_key = models.CharField(max_length=100, editable=False)
    kind = models.CharField(max_length=12, choices=AssetKind.choices)
    name = models.CharField(max_length=255)
    alias = models.CharField(max_length=64)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["alias"]
        constraints = [
            models.UniqueConstraint(fields=["scope_key", "kind", "name", "alias"], name="asset_alias_unique"),
        ]
        indexes = [
            models.Index(fields=["asset"], name="asset_alias_asset"),
            models.Index(fields=["workspace", "alias"], name="asset_alias_ws_alias"),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}"
