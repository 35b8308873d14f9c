"""Writes of the content-addressed code store: the files of a run's code snapshot (SPEC §12).

Launches store snapshot files through ``runs_app.snapshot.bundle_store``; this
module is the public write for other callers (``runs_app.crate`` keeps the code
bundle of an imported crate here). Reads are ``assets_app.selectors.code_blob_exists``
and ``code_blob_open``.

Invariants:
- A code blob's name is derived from its sha256 (``storage.code_blob_name``); the
  caller has checked that the bytes hash to it. Stored bytes are inert: nothing here
  imports or runs them.
- Writes are atomic (``storage.put_bytes``: temp file + rename, or one object put).
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import storage
from .blob_claims import blob_claim


def code_blob_store(*, sha256: str, data: bytes) -> None:
    """Store ``data`` (whose sha256 the caller has checked is ``sha256``) in the code store."""
    storage.put_bytes(storage.code_blob_name(sha256), data)


def code_blob_claim(*, sha256s: Iterable[str], recent: bool = False) -> None:
    """Claim code-store files about to be referenced (``blob_claim``, docs/lifecycle.md), before checking they exist.

    A garbage collection running at the same time then either skips them or has
    deleted them before the caller's existence check, which writes them again. ``recent``:
    a claim this process committed in the last seconds is not renewed (``blob_claim``).
    """
    blob_claim(names=[storage.code_blob_name(sha) for sha in sha256s], recent=recent)
