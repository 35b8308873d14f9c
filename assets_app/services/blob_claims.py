"""Writers' claims on content-addressed objects: the writer half of the garbage-collection protocol.

Invariants (docs/lifecycle.md, "Blob garbage collection"):
- A writer that is about to reference a content-addressed object (``blobs/…``,
  ``code/…``) claims its name *before* it checks whether the object exists, and
  commits the row that references it within ``MOLEXP_GC_GRACE_SECONDS`` of the claim.
- A claim is one upsert of ``BlobClaim`` (``claimed_at`` = now). While the collector
  holds that row (it deletes the bytes with the row locked) the upsert waits, so after
  the claim returns the writer's existence check sees the world after any deletion.
- Names are claimed in sorted order, so two writers never wait on each other in a cycle.
- ``recent=True`` (code-bundle stores of launches) skips the upsert when this process committed a
  claim of every name less than ``RECENT_CLAIM_SECONDS`` ago (at most a tenth of the grace period):
  the row it wrote is still at least that fresh, so any collection skips those names exactly as
  after a new upsert, as long as the reference commits within the grace period (rule 3).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ..models import BlobClaim

#: A claim this process committed less than this long ago is not renewed by ``blob_claim(recent=True)``.
RECENT_CLAIM_SECONDS = 5.0
#: (database name, object name) → when this process last committed a claim of it (``time.time()``).
_committed: dict[tuple[str, str], float] = {}


def blob_claim(*, names: Iterable[str], recent: bool = False) -> None:
    """Claim the content-addressed objects ``names`` for a reference about to be written.

    Side effects: upserts one ``BlobClaim`` row per name (committed at once in
    autocommit; inside a caller's transaction the uncommitted row itself keeps the
    collector waiting until that transaction ends). Blocks while the collector is
    deleting one of these objects. With ``recent`` it writes nothing when this process
    committed a claim of every name less than ``RECENT_CLAIM_SECONDS`` ago (module docstring).
    """
    now = timezone.now()
    ordered = sorted(set(names))
    if not ordered:
        return
    database = connection.settings_dict["NAME"]
    if recent:
        window = min(RECENT_CLAIM_SECONDS, settings.MOLEXP_GC_GRACE_SECONDS / 10)
        clock = time.time()
        if all(0 <= clock - _committed.get((database, name), float("-inf")) < window for name in ordered):
            return
    _upsert(ordered, now)
    if recent and not connection.in_atomic_block:  # committed (autocommit): its row is as old as ``now``
        if len(_committed) > 10_000:
            _committed.clear()
        stamp = now.timestamp()
        _committed.update(((database, name), stamp) for name in ordered)


#: Names per upsert statement (well under SQLite's bound on parameters).
_UPSERT_BATCH = 400


def _upsert(names: list[str], now) -> None:
    """``INSERT … ON CONFLICT (name) DO UPDATE SET claimed_at`` for ``names`` (sorted), one statement per
    batch: in autocommit a statement is its own transaction, so a small claim is one round trip
    (``bulk_create`` wrapped it in BEGIN/COMMIT and built a model instance per name: an artifact
    save paid ~2 ms for it, issue 13). Same SQL on PostgreSQL and SQLite (3.24+)."""
    quote = connection.ops.quote_name
    meta = BlobClaim._meta
    table, name, at = (
        quote(meta.db_table),
        quote(meta.get_field("name").column),
        quote(meta.get_field("claimed_at").column),
    )
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        for start in range(0, len(names), _UPSERT_BATCH):
            batch = names[start : start + _UPSERT_BATCH]
            values = ", ".join(["(%s, %s)"] * len(batch))
            cursor.execute(
                f"INSERT INTO {table} ({name}, {at}) VALUES {values} "  # noqa: S608 - quoted identifiers, values are parameters
                f"ON CONFLICT ({name}) DO UPDATE SET {at} = EXCLUDED.{at}",
                [p for n in batch for p in (n, stamp)],
            )
