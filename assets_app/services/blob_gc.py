"""Blob garbage collection: free content-addressed bytes nothing references (SPEC §14).

Three kinds of bytes are collected:

- ``blobs/<aa>/<bb>/<sha256>``: asset bytes, referenced by ``Asset.file``;
- ``code/<aa>/<bb>/<sha256>``: code bundle files, referenced by the ``files`` manifest in
  ``Run.workflow_snapshot`` (SPEC §12);
- ``MOLEXP_UPLOAD_DIR/<uuid>.part``: partial tus uploads, referenced by ``Upload.partial_name``.

Invariants (the protocol is written out in docs/lifecycle.md):
- Only objects last modified before ``started - grace`` are candidates, where ``started``
  is when the collection began and ``grace`` is ``MOLEXP_GC_GRACE_SECONDS``.
- A content-addressed object is deleted only inside a transaction that holds its
  ``BlobClaim`` row (inserted if missing, then ``SELECT … FOR UPDATE``), after seeing that
  no writer claimed it since ``started - grace`` and, re-checked in that same transaction,
  that no row references it. Writers claim before they look for the object
  (``blob_claim``), so a writer either makes the collector skip the name or waits until
  the bytes are gone and writes them again. The object-store DELETE is slow I/O inside
  that transaction on purpose: the lock must cover it.
- ``dry_run`` takes no lock and changes nothing; it reports what a collection would free now.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from runs_app.choices import AuditAction
from runs_app.models import AuditEvent, Run

from .. import storage
from ..models import Asset, BlobClaim, Upload
from .upload_partials import uploads_dir

logger = logging.getLogger("assets_app.services.gc")

#: Names locked and re-checked per transaction (short: on SQLite a writer's claim waits at most busy_timeout).
BATCH = 100
#: ... code files on PostgreSQL (row locks: only a writer of one of these very names waits). Each batch's
#: references are two statements that read every run's manifest, whatever the batch's size: 100 names a
#: batch made them 60 % of a collection's database time (22 scans of 68 ms for 1 100 code files at 11 000
#: runs, bench_lifecycle); 1 000 a batch, 4.
CODE_BATCH_PG = 1000
_SHA = re.compile(r"^[0-9a-f]{64}$")
_PARTIAL = re.compile(r"^[0-9a-f]{32}\.part$")


@dataclass
class GcReport:
    """What a collection freed (or, dry, would free): per kind ``{"objects", "bytes"}``."""

    dry_run: bool
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def objects(self) -> int:
        return sum(k["objects"] for k in self.kinds.values())

    @property
    def bytes(self) -> int:
        return sum(k["bytes"] for k in self.kinds.values())

    def add(self, kind: str, objects: int, size: int) -> None:
        entry = self.kinds.setdefault(kind, {"objects": 0, "bytes": 0})
        entry["objects"] += objects
        entry["bytes"] += size

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "objects": self.objects, "bytes": self.bytes, "kinds": self.kinds}


def _grace(grace_seconds: int | None) -> timedelta:
    seconds = settings.MOLEXP_GC_GRACE_SECONDS if grace_seconds is None else grace_seconds
    return timedelta(seconds=max(0, int(seconds)))


def _batches(items: Iterable, size: int = BATCH) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- who references what ----------------------------------------------------------------


def _asset_refs(names: list[str]) -> set[str]:
    """The names among ``names`` some asset row points at (one indexed query)."""
    return set(Asset.all_objects.filter(file__in=names).values_list("file", flat=True))


def _code_refs(names: list[str]) -> set[str]:
    """The names among ``names`` some run's code manifest lists (one statement; the database reads
    every manifest once, and only the hashes asked for come back).

    A run's manifest is written when the run is created and never changed. Read in Python, every
    manifest crossed the wire for each batch of names (twice: the candidates, then the re-check
    under the lock): at 135 000 runs, 4 000 unreferenced code files took 80 scans of ~0.4 s. The
    database's own JSON functions answer the same question. An entry the Python reading skipped
    (a ``files`` list instead of a mapping) may count as a reference here: the object is kept."""
    wanted = {name.rsplit("/", 1)[-1]: name for name in names}
    if not wanted:
        return set()
    table = connection.ops.quote_name(Run._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (  # lax jsonpath: a run without a manifest, or an odd one, yields nothing instead of an error
            f"SELECT DISTINCT h #>> '{{}}' FROM {table} r, "  # noqa: S608 - a model's table name, values bound
            "jsonb_path_query(r.workflow_snapshot, '$.files.*.sha256') h WHERE h #>> '{}' = ANY(%s)"
        )
        params = [list(wanted)]
    else:
        marks = ", ".join(["%s"] * len(wanted))
        sql = (
            "SELECT DISTINCT CASE WHEN f.type = 'object' THEN json_extract(f.value, '$.sha256') END AS h "  # noqa: S608
            f"FROM {table} r, json_each(r.workflow_snapshot, '$.files') f WHERE json_valid(r.workflow_snapshot) "
            f"AND json_type(r.workflow_snapshot, '$.files') = 'object' AND h IN ({marks})"
        )
        params = list(wanted)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {wanted[row[0]] for row in cursor.fetchall() if row[0] in wanted}


#: prefix → (report kind, references of a batch of names)
_CONTENT_ADDRESSED: dict[str, tuple[str, Callable[[list[str]], set[str]]]] = {
    "blobs/": ("blobs", _asset_refs),
    "code/": ("code", _code_refs),
}


def _content_addressed(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 4 and _SHA.match(parts[3]) is not None and parts[1:3] == [parts[3][:2], parts[3][2:4]]


# --- collection ---------------------------------------------------------------------------


def _collect_prefix(*, prefix: str, cutoff: datetime, dry_run: bool, report: GcReport) -> None:
    kind, refs = _CONTENT_ADDRESSED[prefix]
    old = (o for o in storage.walk(prefix) if o.modified < cutoff and _content_addressed(o.name))
    size = CODE_BATCH_PG if kind == "code" and connection.vendor == "postgresql" else BATCH
    for batch in _batches(old, size):
        sizes = {o.name: o.size for o in batch}
        unreferenced = sorted(set(sizes) - refs(sorted(sizes)))
        if not unreferenced:
            continue
        if dry_run:
            claimed = set(
                BlobClaim.objects.filter(name__in=unreferenced, claimed_at__gte=cutoff).values_list("name", flat=True)
            )
            doomed = [n for n in unreferenced if n not in claimed]
        else:
            doomed = _free(names=unreferenced, cutoff=cutoff, refs=refs)
        report.add(kind, len(doomed), sum(sizes[n] for n in doomed))


def _free(*, names: list[str], cutoff: datetime, refs: Callable[[list[str]], set[str]]) -> list[str]:
    """Delete the objects ``names`` that, under their claim rows' locks, are still unclaimed and unreferenced."""
    with transaction.atomic():
        # Insert the rows missing (an insert of a name a writer is inserting waits for that
        # writer's transaction), then lock them all: a writer's claim now waits for us.
        BlobClaim.objects.bulk_create([BlobClaim(name=n, claimed_at=None) for n in names], ignore_conflicts=True)
        claims = dict(BlobClaim.objects.select_for_update().filter(name__in=names).order_by("name")
                      .values_list("name", "claimed_at"))  # fmt: skip
        unclaimed = [n for n in names if not (claims.get(n) and claims[n] >= cutoff)]
        still_used = refs(unclaimed) if unclaimed else set()
        doomed = [n for n in unclaimed if n not in still_used]
        for name in doomed:
            storage.delete(name)
        BlobClaim.objects.filter(name__in=names).filter(claimed_at__isnull=True).delete()
        BlobClaim.objects.filter(name__in=doomed).delete()
    return doomed


def _collect_partials(*, cutoff: datetime, dry_run: bool, report: GcReport) -> None:
    """Partial upload files no ``Upload`` row names any more (a crash between file and row, a lost abort)."""
    folder = uploads_dir()
    if not folder.is_dir():
        return
    old: list[tuple[str, int]] = []
    for entry in os.scandir(folder):
        if not (entry.is_file(follow_symlinks=False) and _PARTIAL.match(entry.name)):
            continue
        st = entry.stat(follow_symlinks=False)
        if datetime.fromtimestamp(st.st_mtime, tz=UTC) < cutoff:
            old.append((f"uploads/{entry.name}", st.st_size))
    for batch in _batches(old):
        sizes = dict(batch)
        with transaction.atomic():
            used = set(Upload.objects.filter(partial_name__in=list(sizes)).values_list("partial_name", flat=True))
            doomed = [n for n in sizes if n not in used]
            if not dry_run:
                for name in doomed:
                    (folder / name.removeprefix("uploads/")).unlink(missing_ok=True)
        report.add("uploads", len(doomed), sum(sizes[n] for n in doomed))


def blob_free(*, names: dict[str, int], grace_seconds: int | None = None) -> GcReport:
    """Free now the asset blobs ``names`` (name → size) that nothing references any more (a purge, SPEC §14).

    The same protocol as a collection, for known names: each object is deleted under its
    claim row's lock, only if no writer claimed it within the grace period and, re-checked in
    that transaction, no asset row (in the trash or not) points at it. Objects claimed more
    recently stay for the next ``manage.py gc``. Call it after the purge's rows are committed.
    """
    cutoff = timezone.now() - _grace(grace_seconds)
    report = GcReport(dry_run=False)
    wanted = sorted(n for n in names if n.startswith("blobs/") and _content_addressed(n))
    for batch in _batches(wanted):
        doomed = _free(names=batch, cutoff=cutoff, refs=_asset_refs)
        report.add("blobs", len(doomed), sum(names[n] for n in doomed))
    return report


def blob_gc(*, dry_run: bool = False, grace_seconds: int | None = None) -> GcReport:
    """Free every content-addressed object and partial upload nothing references.

    ``grace_seconds`` (default ``MOLEXP_GC_GRACE_SECONDS``) protects objects written or
    claimed more recently. Side effects: deletes objects from the asset storage and
    partial files from the upload folder; inserts and deletes ``BlobClaim`` rows; one audit
    event when something was freed. Safe to
    run while workers and uploads write (see the module docstring). Returns what was freed.
    """
    started = timezone.now()
    cutoff = started - _grace(grace_seconds)
    report = GcReport(dry_run=dry_run)
    for prefix in _CONTENT_ADDRESSED:
        _collect_prefix(prefix=prefix, cutoff=cutoff, dry_run=dry_run, report=report)
    _collect_partials(cutoff=cutoff, dry_run=dry_run, report=report)
    if not dry_run:
        # Claims older than the cutoff protect nothing any more (the next collection's cutoff is
        # later still); dropping them keeps the table at about the writes of one grace period.
        BlobClaim.objects.filter(claimed_at__lt=cutoff).delete()
    if not dry_run and report.objects:
        AuditEvent.objects.record(action=AuditAction.GC_PURGE, object_type="storage", object_repr="unreferenced bytes",
                                  details=report.as_dict())  # fmt: skip
    logger.info("gc%s: %d objects, %d bytes %s", " (dry run)" if dry_run else "", report.objects, report.bytes,
                "would be freed" if dry_run else "freed")  # fmt: skip
    return report
