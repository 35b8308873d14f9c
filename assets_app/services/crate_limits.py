"""Bounds of an RO-Crate import (issue 12, finding 2): every member checked before a byte is stored.

The importer (``assets_app.services.crate``) calls :func:`crate_check_zip` on the
central directory before it reads any member, :func:`crate_read_json` for every
JSON member, and :func:`crate_check_record` on the parsed record, all before the
first blob is written and before the transaction opens. A crate over any bound
is refused with a ``ValidationError`` (HTTP 400) naming the bound and its
setting; nothing is registered.

Invariants (the numbers are the settings, documented in docs/security.md):
- Entries ≤ ``MOLEXP_CRATE_MAX_ENTRIES``; each uncompressed size ≤
  ``MOLEXP_CRATE_MAX_FILE_BYTES``; their sum ≤ ``MOLEXP_CRATE_MAX_TOTAL_BYTES``.
- Compression ratio ≤ ``MOLEXP_CRATE_MAX_RATIO`` for every entry (a tiny entry
  gets ``ENTRY_RATIO_SLACK`` bytes of slack, nothing like the old 1 MiB skip) and
  for the whole crate: the uncompressed sum against the *archive's* size, so
  overlapping entries or many small bombs cannot add up.
- A member never yields more bytes than it declares (``crate._member_chunks``),
  so the declared sizes above bound the bytes actually read and stored.
- The JSON members (metadata, run record, events, metrics) hold at most
  ``MOLEXP_CRATE_MAX_JSON_BYTES`` together, checked before one is read; deep
  nesting is refused (no ``RecursionError``).
- The workflow source is at most ``MOLEXP_CRATE_MAX_SOURCE_BYTES``.
- Events ≤ ``MOLEXP_CRATE_MAX_EVENTS``, metric points ≤
  ``MOLEXP_CRATE_MAX_METRICS``, assets ≤ ``MOLEXP_CRATE_MAX_ASSETS``;
  executions, task executions and asset uses have fixed bounds below.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from molexp_site.safe_url import http_url

#: Bytes an entry may hold beyond ``ratio × compressed size`` (a 2 KB all-zero file is no bomb).
ENTRY_RATIO_SLACK = 4096
#: Bytes the whole crate may hold beyond ``ratio × archive size`` (tiny crates of small files).
TOTAL_RATIO_SLACK = 64 * 1024
#: Fixed bounds of the record's lists (far above any real run).
MAX_EXECUTIONS = 1000
MAX_TASK_EXECUTIONS = 100_000
MAX_ASSET_USES = 100_000
#: Deepest JSON nesting accepted in any member.
MAX_JSON_DEPTH = 64


def refuse(message: str) -> ValidationError:
    """The error of a refused crate: 400 with ``Refused crate: …`` on the ``file`` field."""
    return ValidationError({"file": f"Refused crate: {message}"})


@dataclass(frozen=True)
class CrateLimits:
    """The import bounds, read from settings (each has an embedded default)."""

    entries: int
    file_bytes: int
    total_bytes: int
    ratio: int
    json_bytes: int
    source_bytes: int
    events: int
    metrics: int
    assets: int

    @classmethod
    def from_settings(cls) -> CrateLimits:
        def get(name: str, default: int) -> int:
            return int(getattr(settings, name, default))

        upload_max = get("MOLEXP_UPLOAD_MAX_SIZE", 50 * 1024**3)
        return cls(
            entries=get("MOLEXP_CRATE_MAX_ENTRIES", 20_000),
            file_bytes=get("MOLEXP_CRATE_MAX_FILE_BYTES", upload_max),
            total_bytes=get("MOLEXP_CRATE_MAX_TOTAL_BYTES", upload_max),
            ratio=get("MOLEXP_CRATE_MAX_RATIO", 100),
            json_bytes=get("MOLEXP_CRATE_MAX_JSON_BYTES", 32 * 1024 * 1024),
            source_bytes=get("MOLEXP_CRATE_MAX_SOURCE_BYTES", 2 * 1024 * 1024),
            events=get("MOLEXP_CRATE_MAX_EVENTS", 10_000),
            metrics=get("MOLEXP_CRATE_MAX_METRICS", 100_000),
            assets=get("MOLEXP_CRATE_MAX_ASSETS", 10_000),
        )


def crate_check_zip(
    infos: list[zipfile.ZipInfo], *, archive_size: int, limits: CrateLimits, check_entry: Callable
) -> dict[str, zipfile.ZipInfo]:
    """Check the central directory (names via ``check_entry``, sizes, ratios); returns files by name.

    Reads no member. ``archive_size`` is the zip's own size in bytes.
    """
    if len(infos) > limits.entries:
        raise refuse(f"{len(infos)} entries (limit {limits.entries}, MOLEXP_CRATE_MAX_ENTRIES).")
    files: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        check_entry(info)
        if info.is_dir():
            continue
        if info.filename in files:
            raise refuse(f"duplicate entry {info.filename!r}.")
        if info.file_size > limits.file_bytes:
            raise refuse(
                f"{info.filename!r} declares {info.file_size} bytes (limit {limits.file_bytes}, "
                "MOLEXP_CRATE_MAX_FILE_BYTES)."
            )
        total += info.file_size
        if total > limits.total_bytes:
            raise refuse(
                f"the files declare more than {limits.total_bytes} bytes uncompressed (MOLEXP_CRATE_MAX_TOTAL_BYTES)."
            )
        if info.file_size > limits.ratio * max(info.compress_size, 1) + ENTRY_RATIO_SLACK:
            raise refuse(
                f"{info.filename!r} expands more than {limits.ratio}× (zip bomb guard, MOLEXP_CRATE_MAX_RATIO)."
            )
        files[info.filename] = info
    if total > limits.ratio * max(archive_size, 1) + TOTAL_RATIO_SLACK:
        raise refuse(
            f"its files expand to {total} bytes from a {archive_size}-byte zip, more than {limits.ratio}× "
            "(zip bomb guard, MOLEXP_CRATE_MAX_RATIO)."
        )
    return files


def _depth_ok(value: Any, limit: int) -> bool:
    """True when ``value`` nests at most ``limit`` levels (iterative: no recursion of its own)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            items: Iterable = item.values()
        elif isinstance(item, list):
            items = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in items if isinstance(child, (dict, list)))
    return True


def crate_check_json_budget(infos: Iterable[zipfile.ZipInfo], *, limits: CrateLimits) -> None:
    """The JSON members parsed by one import *together* hold at most ``MOLEXP_CRATE_MAX_JSON_BYTES``.

    They are alive at the same time (record, events, metrics), so one budget for
    all of them is what bounds the import's peak memory.
    """
    total = sum(info.file_size for info in infos)
    if total > limits.json_bytes:
        raise refuse(
            f"its JSON members hold {total} bytes together (limit {limits.json_bytes}, MOLEXP_CRATE_MAX_JSON_BYTES)."
        )


def crate_read_json(chunks: Iterable[bytes], info: zipfile.ZipInfo, *, what: str, limits: CrateLimits) -> Any:
    """Parse a JSON member of at most ``MOLEXP_CRATE_MAX_JSON_BYTES`` (checked before a byte is read).

    ``chunks`` yields the member's bytes (never more than it declares). Deeply
    nested documents are refused, whether Python's parser hits its recursion
    limit or the result nests deeper than ``MAX_JSON_DEPTH``.
    """
    if info.file_size > limits.json_bytes:
        raise refuse(f"{what} is {info.file_size} bytes (limit {limits.json_bytes}, MOLEXP_CRATE_MAX_JSON_BYTES).")
    try:
        value = json.loads(b"".join(chunks).decode("utf-8"))
    except RecursionError:
        raise refuse(f"{what} nests too deeply.") from None
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise refuse(f"{what} does not parse ({exc}).") from None
    if not _depth_ok(value, MAX_JSON_DEPTH):
        raise refuse(f"{what} nests deeper than {MAX_JSON_DEPTH} levels.")
    return value


def crate_check_source(info: zipfile.ZipInfo, *, limits: CrateLimits) -> None:
    """The workflow source member is at most ``MOLEXP_CRATE_MAX_SOURCE_BYTES``."""
    if info.file_size > limits.source_bytes:
        raise refuse(
            f"the workflow source {info.filename!r} is {info.file_size} bytes (limit {limits.source_bytes}, "
            "MOLEXP_CRATE_MAX_SOURCE_BYTES)."
        )


def crate_check_counts(record: dict, *, limits: CrateLimits) -> None:
    """Counts of the record's rows: events, metrics, assets (settings), executions, tasks, uses (fixed)."""
    executions = record.get("executions") or []
    tasks = sum(len(e.get("tasks") or []) if isinstance(e, dict) else 0 for e in executions)
    bounds = (
        ("events", len(record.get("events") or []), limits.events, "MOLEXP_CRATE_MAX_EVENTS"),
        ("metric points", len(record.get("metrics") or []), limits.metrics, "MOLEXP_CRATE_MAX_METRICS"),
        ("assets", len(record.get("assets") or []), limits.assets, "MOLEXP_CRATE_MAX_ASSETS"),
        ("executions", len(executions), MAX_EXECUTIONS, ""),
        ("task executions", tasks, MAX_TASK_EXECUTIONS, ""),
        ("asset uses", len(record.get("asset_uses") or []), MAX_ASSET_USES, ""),
    )
    for what, count, limit, setting in bounds:
        if count > limit:
            raise refuse(f"{count} {what} (limit {limit}{', ' + setting if setting else ''}).")
    for ex in executions:
        if not isinstance(ex, dict) or not isinstance(ex.get("tasks") or [], list):
            raise refuse("an execution of the record is malformed.")


def crate_source_url(*candidates: Any) -> str | None:
    """The crate's source URL (the first non-empty candidate), which must be http(s); ``None`` if there is none.

    A value that is not an absolute http(s) URL refuses the crate (never stored,
    so never rendered as a link: issue 12, finding 1).
    """
    for value in candidates:
        if isinstance(value, dict) and set(value) == {"@id"}:
            value = value["@id"]  # JSON-LD reference form of "url"
        if value in (None, ""):
            continue
        url = http_url(value)
        if url is None:
            shown = re.sub(r"[^\x21-\x7e]", "?", str(value))[:80]
            raise refuse(f"its source URL {shown!r} is not an http(s) URL.")
        return url
    return None
