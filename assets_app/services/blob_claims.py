"""Writers' claims on content-addressed objects: the writer half of the garbage-collection protocol.

Invariants (docs/lifecycle.md, "Blob garbage collection"):
- A writer that is about to reference a content-addressed object (``blobs/…``,
  ``code/…``) claims its name *before* it checks whether the object exists, and
  commits the row that references it within ``MOLEXP_GC_GRACE_SECONDS`` of the claim.
- A claim is one upsert of ``BlobClaim`` (``claimed_at`` = now). While the collector
  holds that row (it deletes the bytes with the row locked) the upsert waits, so after
  the claim returns the writer's existence check sees the world after any deletion.
- Names are claimed in sorted order, so two writers never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from ..models import BlobClaim


def blob_claim(*, names: Iterable[str]) -> None:
    """Claim the content-addressed objects ``names`` for a reference about to be written.

    Side effects: upserts one ``BlobClaim`` row per name (committed at once in
    autocommit; inside a caller's transaction the uncommitted row itself keeps the
    collector waiting until that transaction ends). Blocks while the collector is
    deleting one of these objects.
    """
    now = timezone.now()
    rows = [BlobClaim(name=name, claimed_at=now) for name in sorted(set(names))]
    if rows:
        BlobClaim.objects.bulk_create(rows, update_conflicts=True, unique_fields=["name"], update_fields=["claimed_at"])
