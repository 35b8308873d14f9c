"""A directory imported as one asset: its safe scan and its canonical tar archive.

Invariants:
- The canonical form of a tree is an uncompressed POSIX (pax) tar archive: members
  sorted by path, relative names without a leading folder, mtime 0, uid/gid 0, no
  user/group names, mode 0644 (0755 for directories and executables). The same tree
  therefore always gives the same SHA-256, whatever its folder name or timestamps,
  and so the same version.
- A directory is refused when it holds a symlink whose target escapes the import
  roots, a symlinked directory or a special file (``_tree_scan``), before anything
  is written; a file that changes size while it is archived is refused too.
- ``metadata["directory"]`` lists the files (path, size, sha256), at most
  ``DIRECTORY_LISTING_MAX`` of them.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

from .blobs import CHUNK
from .import_sources import _below, _in_store

#: Files of a directory listed in ``metadata["directory"]["files"]`` at most.
DIRECTORY_LISTING_MAX = 1000
DIRECTORY_MEDIA_TYPE = "application/x-tar"
LINKED_DIRECTORY_MEDIA_TYPE = "inode/directory"
_TAR_BLOCK = tarfile.BLOCKSIZE
_TAR_RECORD = tarfile.RECORDSIZE


@dataclass(frozen=True)
class _Entry:
    rel: str  # posix path relative to the imported directory
    path: Path  # the bytes to read (a symlink's resolved target)
    is_dir: bool
    size: int
    executable: bool


def _tree_scan(root: Path, roots: list[Path]) -> list[_Entry]:
    """Every directory and file below ``root``, sorted by path; refuses unsafe members."""
    entries: list[_Entry] = []

    def refuse(rel: str, why: str) -> ValidationError:
        return ValidationError({"source": f"The directory holds {rel!r}, {why}."})

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            rel = f"{prefix}{child.name}"
            if child.is_symlink():
                target = Path(os.path.realpath(child.path))
                if not _below(target, roots) or _in_store(target):
                    raise refuse(rel, "a symlink whose target escapes the import roots")
                try:
                    st = os.stat(target)
                except OSError:
                    raise refuse(rel, "a broken symlink") from None
                if stat.S_ISDIR(st.st_mode):
                    raise refuse(rel, "a symlink to a directory (not supported inside an imported directory)")
                if not stat.S_ISREG(st.st_mode):
                    raise refuse(rel, "a symlink to a special file")
                entries.append(_Entry(rel, target, False, st.st_size, bool(st.st_mode & 0o111)))
            elif child.is_dir(follow_symlinks=False):
                entries.append(_Entry(rel, Path(child.path), True, 0, True))
                walk(Path(child.path), f"{rel}/")
            elif child.is_file(follow_symlinks=False):
                st = child.stat(follow_symlinks=False)
                entries.append(_Entry(rel, Path(child.path), False, st.st_size, bool(st.st_mode & 0o111)))
            else:
                raise refuse(rel, "a special file (fifo, socket or device)")

    walk(root, "")
    entries.sort(key=lambda e: e.rel.split("/"))
    return entries


def _tar_header(entry: _Entry) -> bytes:
    info = tarfile.TarInfo(entry.rel)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.is_dir:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        info.size = 0
    else:
        info.type = tarfile.REGTYPE
        info.mode = 0o755 if entry.executable else 0o644
        info.size = entry.size
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _tar_chunks(entries: list[_Entry], listing: list[dict[str, Any]]) -> Iterator[bytes]:
    """The canonical tar archive of ``entries``, streamed; fills ``listing`` with each file's digest."""
    total = 0
    for entry in entries:
        header = _tar_header(entry)
        total += len(header)
        yield header
        if entry.is_dir:
            continue
        digest = hashlib.sha256()
        read = 0
        with open(entry.path, "rb") as fh:
            while read < entry.size:
                chunk = fh.read(min(CHUNK, entry.size - read))
                if not chunk:
                    break
                digest.update(chunk)
                read += len(chunk)
                yield chunk
        if read != entry.size:
            raise ValidationError({"source": f"{entry.rel!r} changed while it was being imported."})
        pad = (-entry.size) % _TAR_BLOCK
        if pad:
            yield b"\0" * pad
        total += entry.size + pad
        listing.append({"path": entry.rel, "size": entry.size, "sha256": digest.hexdigest()})
    end = 2 * _TAR_BLOCK
    end += (-(total + end)) % _TAR_RECORD
    yield b"\0" * end


def _directory_metadata(entries: list[_Entry], listing: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": "tar",
        "file_count": len(listing),
        "directory_count": sum(1 for e in entries if e.is_dir),
        "total_bytes": sum(item["size"] for item in listing),
        "files": listing[:DIRECTORY_LISTING_MAX],
        "files_truncated": len(listing) > DIRECTORY_LISTING_MAX,
    }


def _digest_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk
