"""Zip safety of an RO-Crate import: every member checked before a byte is stored (issue 12, finding 2).

The importer (``runs_app.crate.importer``) opens the crate with
:func:`zip_open`, checks the central directory with :func:`zip_check` before
it reads any member, reads members only through :func:`member_chunks` (and
:func:`member_sha256`, :func:`member_json`), and all of this before the first
blob is written and before the transaction opens. A crate over any bound is
refused with :func:`refuse`'s ``ValidationError`` (HTTP 400) naming the bound
and its setting; nothing is registered.

Invariants (the numbers are the settings, documented in docs/security.md):
- Entry names are relative POSIX paths inside the crate: no absolute path,
  drive letter, backslash, NUL, ``..``, ``.`` or empty part; no symlink,
  special file or encrypted entry; no duplicate name.
- Entries ≤ ``MOLEXP_CRATE_MAX_ENTRIES``; each uncompressed size ≤
  ``MOLEXP_CRATE_MAX_FILE_BYTES``; their sum ≤ ``MOLEXP_CRATE_MAX_TOTAL_BYTES``.
- Compression ratio ≤ ``MOLEXP_CRATE_MAX_RATIO`` for every entry (a tiny entry
  gets ``ENTRY_RATIO_SLACK`` bytes of slack, nothing like the old 1 MiB skip) and
  for the whole crate: the uncompressed sum against the *archive's* size, so
  overlapping entries or many small bombs cannot add up.
- A member never yields more bytes than it declares (:func:`member_chunks`),
  so the declared sizes above bound the bytes actually read and stored; reads
  stream in ``CHUNK`` pieces.
- The JSON members (metadata, run record, events, metrics) hold at most
  ``MOLEXP_CRATE_MAX_JSON_BYTES`` together, checked before one is read; deep
  nesting is refused (no ``RecursionError``).
- The workflow source is at most ``MOLEXP_CRATE_MAX_SOURCE_BYTES``.
- The record's row counts (events, metrics, assets, …) are bounded by
  ``runs_app.crate.record.record_check_counts`` with the same ``CrateLimits``.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError

#: Bytes an entry may hold beyond ``ratio × compressed size`` (a 2 KB all-zero file is no bomb).
ENTRY_RATIO_SLACK = 4096
#: Bytes the whole crate may hold beyond ``ratio × archive size`` (tiny crates of small files).
TOTAL_RATIO_SLACK = 64 * 1024
#: Deepest JSON nesting accepted in any member.
MAX_JSON_DEPTH = 64
#: Bytes per read when streaming a member (the blob store's chunk size).
CHUNK = 1024 * 1024


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


def _check_name(name: str) -> None:
    if not name or "\x00" in name or "\\" in name:
        raise refuse(f"bad entry name {name!r}.")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise refuse(f"absolute path {name!r}.")
    parts = name.rstrip("/").split("/")
    if any(p in ("..", ".") for p in parts) or any(p == "" for p in parts):
        raise refuse(f"path {name!r} leaves or bends the crate (.., . or //).")


def member_check_entry(info: zipfile.ZipInfo) -> None:
    """One member's name and type: no traversal, no symlink or special file, not encrypted."""
    _check_name(info.filename)
    mode = (info.external_attr >> 16) & 0o170000
    if mode == 0o120000:
        raise refuse(f"symbolic link {info.filename!r}.")
    if mode not in (0, 0o100000, 0o040000):
        raise refuse(f"special file {info.filename!r}.")
    if info.flag_bits & 0x1:
        raise refuse(f"encrypted entry {info.filename!r}.")


def _archive_size(fileobj: IO[bytes]) -> int:
    position = fileobj.tell()
    try:
        return fileobj.seek(0, 2)
    finally:
        fileobj.seek(position)


def zip_open(fileobj: IO[bytes]) -> tuple[zipfile.ZipFile, int]:
    """Open a seekable zip; returns it and the archive's size in bytes. Refuses what is not a zip."""
    try:
        archive_size = _archive_size(fileobj)
        zf = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise refuse(f"not a zip file ({exc}).") from None
    return zf, archive_size


def zip_check(zf: zipfile.ZipFile, *, archive_size: int, limits: CrateLimits) -> dict[str, zipfile.ZipInfo]:
    """Every member checked for safety, size and compression ratio before any byte is read; files by name."""
    return crate_check_zip(zf.infolist(), archive_size=archive_size, limits=limits, check_entry=member_check_entry)


def member_chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """A member's bytes in chunks; never more than it declared (zipfile also checks the CRC)."""
    read = 0
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                return
            read += len(chunk)
            if read > info.file_size:
                raise refuse(f"{info.filename!r} is longer than it declares.")
            yield chunk


def member_sha256(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """A member's hex sha256, streamed; an unreadable member refuses the crate."""
    digest = hashlib.sha256()
    try:
        for chunk in member_chunks(zf, info):
            digest.update(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise refuse(f"{info.filename!r} cannot be read ({exc}).") from None
    return digest.hexdigest()


def member_json(zf: zipfile.ZipFile, info: zipfile.ZipInfo, *, what: str, limits: CrateLimits) -> Any:
    """A JSON member, parsed within the bounds of :func:`crate_read_json`."""
    return crate_read_json(member_chunks(zf, info), info, what=what, limits=limits)
