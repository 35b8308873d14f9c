"""Run logs: append-only segments while a run writes, one content-addressed blob once finalized.

Invariants:
- A log is one ``LogAsset`` per (run, name). While it is written its ``file`` is a
  segment folder ending with ``/`` (``logs/run-<run>/<asset>-<random>/``); each flush
  publishes one whole segment (temporary file + rename, or one object PUT) before the
  row's counters move, so a counted line is always readable.
- Segment names sort in write order, even across processes and machines
  (``_log_segment_name``); a writer merges its loose segments every
  ``LOG_SEGMENTS_MERGE_AT`` flushes, so a long log stays a few hundred objects.
- ``log_finalize`` points the row at the joined blob before removing the segments:
  a crash in between leaves unreferenced segments, never a log without bytes.
  The maintenance (``log_sweep``) finalizes only logs whose run shows no sign of life.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

from django.db import DatabaseError
from django.db.models import Exists, F, OuterRef, Q

from runs_app.choices import ExecutionStatus
from runs_app.models import Execution, Run

from .. import storage
from ..choices import AssetKind
from ..models import Asset
from .blobs import CHUNK, _tmp_dir, blob_store_chunks
from .log_index import LogWordIndex
from .registration import SEARCH_TEXT_LIMIT, _search_text, asset_create, asset_name_clean


def _log_live_prefix(asset: Asset) -> str | None:
    """The segment folder of a log still being written (its ``file`` ends with ``/``), else ``None``."""
    name = asset.file.name if hasattr(asset.file, "name") else str(asset.file or "")
    return name if name.endswith("/") else None


def _log_new_prefix(asset: Asset) -> str:
    # A random part keeps two databases sharing one store (or a restored backup) from ever
    # writing into each other's segment folder under the same row ids.
    return f"logs/run-{asset.run_id}/{asset.pk}-{uuid.uuid4().hex[:12]}/"


def log_open(*, run: Run, execution: Execution | None, name: str, task: str = "") -> Asset:
    """The run's log asset called ``name`` (one per name per run), created empty if new.

    While a log is written its bytes are append-only *segments* in a folder of
    the storage (``logs/run-<run>/<asset>-<random>/``, one object per flush), so
    the same design works on a local disk and on an object store that cannot
    append. ``log_finalize`` joins them into one content-addressed blob. A log
    finalized by an earlier attempt that is written again (a retry) is reopened:
    its bytes become the first segment of a new folder.
    """
    name = asset_name_clean(name)
    existing = Asset.all_objects.filter(run=run, kind=AssetKind.LOG, name=name).order_by("-version").first()
    if existing is not None:
        existing = existing.as_kind()
        if _log_live_prefix(existing) is None:
            _log_reopen(existing)
        return existing
    asset = asset_create(
        kind=AssetKind.LOG,
        name=name,
        run=run,
        media_type="text/plain",
        producer_execution=execution,
        producer_task=task,
    )
    prefix = _log_new_prefix(asset)
    Asset.objects.filter(pk=asset.pk).update(file=prefix)
    asset.file = prefix
    return asset


def _log_reopen(asset: Asset) -> None:
    prefix = _log_new_prefix(asset)
    if asset.file:
        _copy_to_storage([asset.file.name], f"{prefix}{0:020d}-base.seg")  # streamed: a log may be large
    Asset.objects.filter(pk=asset.pk).update(file=prefix)
    asset.file = prefix


def _copy_to_storage(sources: list[str], name: str) -> None:
    """Publish the bytes of the storage files ``sources``, in order, as ``name`` (streamed through a temp file)."""
    fd, tmp = tempfile.mkstemp(dir=_tmp_dir(), suffix=".seg")
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with storage.open_read(source) as fh:
                    while chunk := fh.read(CHUNK):
                        out.write(chunk)
        storage.put_file(name, Path(tmp), move=True)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: The newest segment stamp each log got from this process: stamps only grow per log.
_segment_stamps: dict[int, int] = {}
#: Segments this process wrote per log since it last merged them.
_segment_counts: dict[int, int] = {}
#: A writer merges its loose segments into one after this many flushes, so a log written for days
#: stays a few hundred objects (a tail lists them; an object store lists 1 000 per request).
LOG_SEGMENTS_MERGE_AT = 256


def _log_segment_name(asset: Asset, prefix: str) -> str:
    """A segment name that sorts after every earlier segment of this log.

    Stamps are nanosecond clock readings, forced to grow per log within a process; a
    process that continues a log (a retry, possibly on another machine) first reads the
    newest existing stamp, so order holds even if the clocks of two machines disagree.
    """
    last = _segment_stamps.get(asset.pk)
    if last is None:
        names = storage.list_files(prefix)
        last = storage.segment_stamp(names[-1])[0] if names else 0
    stamp = max(time.time_ns(), last + 1)
    _segment_stamps[asset.pk] = stamp
    return f"{prefix}{stamp:020d}-{uuid.uuid4().hex[:8]}.seg"


def _log_merge_segments(prefix: str) -> None:
    """Merge the trailing run of loose segments into one ``<last>-m<first>.seg`` (published first, then the
    loose ones are removed; readers skip what a merged segment covers, see ``storage.list_segments``)."""
    loose: list[str] = []
    for name in reversed(storage.list_segments(prefix)):
        if storage.segment_stamp(name)[1] is not None:
            break
        loose.append(name)
    loose.reverse()
    if len(loose) < 2:
        return
    first, last = storage.segment_stamp(loose[0])[0], storage.segment_stamp(loose[-1])[0]
    _copy_to_storage(loose, f"{prefix}{last:020d}-m{first:020d}.seg")
    for name in loose:
        storage.delete(name)


class LogCountPending(Exception):
    """Lines reached the log's storage but their count did not reach the row; carry it to the next flush."""

    def __init__(self, lines: int, size: int) -> None:
        super().__init__(f"{lines} log lines written but not yet counted")
        self.lines = lines
        self.size = size


def log_append_lines(*, asset: Asset, lines: list[str], uncounted: tuple[int, int] = (0, 0)) -> None:
    """Write lines as the log's next segment, then count them with one UPDATE (one DB round trip per flush).

    The segment is published whole (temporary file + rename, or one object PUT)
    before the row is updated, so a line the row counts is always readable and a
    killed writer never leaves half a segment. If the UPDATE fails (the database
    is restarting), ``LogCountPending`` carries the uncounted lines and bytes,
    which the caller passes back as ``uncounted`` on its next flush: no line is
    lost from the count.
    """
    payload = "".join(line.rstrip("\n") + "\n" for line in lines).encode("utf-8", errors="replace")
    log_append_payload(asset=asset, payload=payload, count=len(lines), uncounted=uncounted)


def log_append_payload(*, asset: Asset, payload: bytes, count: int, uncounted: tuple[int, int] = (0, 0)) -> None:
    """``log_append_lines`` for lines already joined: ``payload`` is UTF-8 text of ``count`` lines, each
    ending with ``\\n`` (the caller guarantees it). The one segment write and count of every log append."""
    if payload:
        prefix = _log_live_prefix(asset)
        if prefix is None:
            _log_reopen(asset)
            prefix = _log_live_prefix(asset)
        storage.put_bytes(_log_segment_name(asset, prefix), payload, fsync=False)
        _segment_counts[asset.pk] = _segment_counts.get(asset.pk, 0) + 1
        if _segment_counts[asset.pk] >= LOG_SEGMENTS_MERGE_AT:
            _log_merge_segments(prefix)
            _segment_counts[asset.pk] = 0
    count, size = count + uncounted[0], len(payload) + uncounted[1]
    if not count and not size:
        return
    try:
        Asset.objects.filter(pk=asset.pk).update(line_count=F("line_count") + count, size=F("size") + size)
    except DatabaseError as exc:
        raise LogCountPending(count, size) from exc


def executions_alive(*, since):
    """Executions that run, or whose worker beat after ``since`` (it may still write)."""
    return Execution.objects.filter(
        Q(status__in=[ExecutionStatus.RUNNING, ExecutionStatus.CANCELLING]) | Q(heartbeat_at__gte=since)
    )


def _log_search_text(*, asset: Asset, tail: str, words: LogWordIndex) -> str:
    """The log's catalog text: name, tags, … and its newest lines (together ``SEARCH_TEXT_LIMIT``
    characters), then the distinct words of everything before them (``log_index``)."""
    base = _search_text(name=asset.name, tags=list(asset.tags or []), description=asset.description,
                        metadata=asset.metadata)  # fmt: skip
    room = max(0, SEARCH_TEXT_LIMIT - len(base) - 1)
    parts = [base, tail[len(tail) - room :] if room else "", words.text()]
    return " ".join(part for part in parts if part)


def log_finalize(*, asset: Asset, abandoned_before=None) -> bool:
    """Join a log's segments into one content-addressed blob, record its SHA-256 and index its text.

    The row points at the blob before the segments are removed, so a crash in
    between leaves only unreferenced segments, never a log without its bytes.
    The whole log is searchable: its newest lines as text and the distinct words
    before them (``log_index``). With ``abandoned_before`` (the maintenance), the
    row changes only if no execution of the run runs or beat since then. Returns
    whether this call finalized the log.
    """
    prefix = _log_live_prefix(asset)
    if prefix is None:
        return False
    names = storage.list_segments(prefix)
    tail = bytearray()
    head_words = LogWordIndex()

    def chunks():
        for name in names:
            with storage.open_read(name) as fh:
                while chunk := fh.read(CHUNK):
                    tail.extend(chunk)
                    excess = len(tail) - SEARCH_TEXT_LIMIT
                    if excess > 0:
                        head_words.feed(bytes(tail[:excess]))  # what falls out of the tail: its words
                        del tail[:excess]
                    yield chunk

    blob = blob_store_chunks(chunks())
    updated = Asset.objects.filter(pk=asset.pk, file=prefix)
    if abandoned_before is not None:
        # The maintenance finalizes a log only while no execution of its run shows a sign of
        # life: a retry that claimed the run meanwhile keeps writing into the segments.
        updated = updated.exclude(Exists(executions_alive(since=abandoned_before).filter(run_id=OuterRef("run_id"))))
    updated = updated.update(
        file=blob.name,
        sha256=blob.sha256,
        size=blob.size,
        search_text=_log_search_text(asset=asset, tail=tail.decode("utf-8", errors="replace"), words=head_words),
    )
    if updated:
        asset.file, asset.sha256, asset.size = blob.name, blob.sha256, blob.size
        storage.delete_prefix(prefix)
    _segment_stamps.pop(asset.pk, None)
    _segment_counts.pop(asset.pk, None)
    return bool(updated)


def log_tail(*, asset: Asset, max_lines: int = 200, max_bytes: int = 256 * 1024) -> list[str]:
    """The last lines of a log without reading it whole (live: only its newest segments)."""
    prefix = _log_live_prefix(asset)
    try:
        if prefix is None:
            if not asset.file:
                return []
            with storage.open_read(asset.file.name) as fh:
                size = fh.size
                fh.seek(max(0, size - max_bytes))
                data = fh.read()
        else:
            pieces: list[bytes] = []
            size = have = 0
            names = storage.list_segments(prefix)
            for name in reversed(names):
                with storage.open_read(name) as fh:
                    seg_size = fh.size
                    size += seg_size
                    if have < max_bytes:
                        fh.seek(max(0, seg_size - (max_bytes - have)))
                        piece = fh.read()
                        pieces.append(piece)
                        have += len(piece)
                if have >= max_bytes:
                    size += 1  # more came before: the first line read is probably cut
                    break
            data = b"".join(reversed(pieces))
    except FileNotFoundError:
        return []  # finalized (and its segments removed) while being read: the next poll reads the blob
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line is probably cut
    return lines[-max_lines:]
