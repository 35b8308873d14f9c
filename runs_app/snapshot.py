"""A run's code snapshot as a content-addressed bundle (SPEC §12).

The bundle is the workflow's source tree: every ``*.py`` file under the
workflow's root folder (the ``MOLEXP_WORKFLOW_DIRS`` entry it was found in), the
``molcfg.yaml`` beside the workflow, and the files matched by the optional
``snapshot: {include: [glob, …]}`` of that ``molcfg.yaml`` (globs relative to
the root). Hidden folders, ``__pycache__``, ``.git`` and the patterns of a
``.molexpignore`` file at the root are left out.

Invariants:
- The manifest maps each file's POSIX path relative to the root to its
  ``{"sha256", "size"}``; ``snapshot_hash`` is the hex SHA-256 of the manifest's
  canonical JSON (``sort_keys``, compact separators). Equal trees have equal hashes.
- File bytes are stored once per SHA-256 under ``code/<aa>/<bb>/<sha256>`` in the
  project's storage through ``assets_app.services.code_blob_store`` and read through
  ``assets_app.selectors.code_blob_open`` (file system or S3); a file whose hash
  is already stored is never written again, so a sweep or a relaunch of an
  unchanged tree writes nothing.
- The bytes hashed are the bytes stored: a file is read once per launch at most
  (a cache keyed by path, size, mtime and inode skips re-reading unchanged files)
  and its bytes are checked against the hash when they are stored.
- The worker materialises a bundle into ``MOLEXP_WORK_DIR/bundles/<snapshot_hash>/``
  (built in a temporary folder, every file checked against its hash, then renamed
  into place) and imports only from there (``isolated_imports``); modules it
  imported are dropped afterwards, so no run reuses a module of an earlier one.
- Nothing here imports workflow code.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError

from assets_app.selectors import code_blob_exists, code_blob_open
from assets_app.services import code_blob_claim, code_blob_store

IGNORE_FILE = ".molexpignore"
SKIPPED_DIRS = frozenset({"__pycache__", ".git"})
#: Files named in a size refusal.
BIGGEST_SHOWN = 5
#: Files of one bundle at most (a root pointing at a huge tree is refused, not walked forever).
MAX_FILES = 20_000


@dataclass(frozen=True)
class BundleFile:
    path: str  # POSIX, relative to the root
    sha256: str
    size: int
    source: Path  # where it was read (for storing bytes not held in ``data``)
    data: bytes | None = None


@dataclass(frozen=True)
class Bundle:
    files: tuple[BundleFile, ...]

    @property
    def manifest(self) -> dict[str, dict]:
        return {f.path: {"sha256": f.sha256, "size": f.size} for f in sorted(self.files, key=lambda f: f.path)}

    @property
    def snapshot_hash(self) -> str:
        return manifest_hash(self.manifest)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def manifest_hash(manifest: dict[str, dict]) -> str:
    """Hex SHA-256 of the manifest's canonical JSON (path → {sha256, size})."""
    canonical = {path: {"sha256": e["sha256"], "size": int(e["size"])} for path, e in manifest.items()}
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def workflow_root(workflow_source: str, path: Path) -> Path:
    """The ``MOLEXP_WORKFLOW_DIRS`` entry ``path`` (the resolved ``workflow_source``) was found in."""
    for directory in settings.MOLEXP_WORKFLOW_DIRS:
        root = Path(directory).resolve()
        if (root / workflow_source.strip()).resolve() == path:
            return root
    return path.parent


# --- .molexpignore -------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    pattern: str
    negate: bool
    dir_only: bool
    anchored: bool


def _ignore_rules(root: Path) -> list[_Rule]:
    """The rules of ``root/.molexpignore``: a subset of gitignore (globs, ``!``, trailing ``/``, leading ``/``)."""
    try:
        text = (root / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:] if negate else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if line.startswith("**/"):
            line = line[3:]
        anchored = "/" in line
        line = line.lstrip("/")
        if line:
            rules.append(_Rule(line, negate, dir_only, anchored))
    return rules


def _ignored(rules: list[_Rule], rel: str, *, is_dir: bool) -> bool:
    ignored = False
    name = rel.rsplit("/", 1)[-1]
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        target = rel if rule.anchored else name
        if fnmatch.fnmatchcase(target, rule.pattern):
            ignored = not rule.negate
    return ignored


def _excluded_parts(rel: str) -> bool:
    """Hidden folders, ``__pycache__`` and ``.git`` anywhere on the path."""
    parts = rel.split("/")
    return any(p.startswith(".") or p in SKIPPED_DIRS for p in parts[:-1]) or parts[-1] in SKIPPED_DIRS


# --- collecting -----------------------------------------------------------------------

#: Files modified less than this long ago are hashed again at every launch.
RACY_NS = 2_000_000_000
#: (path, size, mtime_ns, inode) → sha256 of files this process already hashed.
_hash_cache: dict[tuple[str, int, int, int], str] = {}


def _candidates(root: Path, rules: list[_Rule]) -> Iterator[str]:
    """POSIX paths (relative to ``root``) of the ``*.py`` files of the tree, pruned by the rules."""
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel_folder == "." else rel_folder + "/"
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d not in SKIPPED_DIRS and not _ignored(rules, prefix + d, is_dir=True)
        )  # fmt: skip
        for name in sorted(files):
            if name.endswith(".py"):
                yield prefix + name


def _included(root: Path, globs: list[str]) -> Iterator[str]:
    for pattern in globs:
        pure = PurePosixPath(pattern)
        if pure.is_absolute() or ".." in pure.parts or "\x00" in pattern:
            raise ValidationError({"workflow_source": f"molcfg.yaml snapshot.include: {pattern!r} must stay inside "
                                                      "the workflow folder (a relative glob, no '..')."})  # fmt: skip
        for match in sorted(root.glob(pattern)):
            if match.is_file():
                yield match.relative_to(root).as_posix()


def bundle_collect(*, root: Path, workflow_rel: str, source: bytes, include: list[str] | None = None) -> Bundle:
    """The bundle of the tree at ``root`` for the workflow at ``workflow_rel`` (whose bytes are ``source``).

    Reads (and hashes) only files this process has not hashed at the same size and mtime.
    Raises ``ValidationError`` when the tree exceeds ``MOLEXP_SNAPSHOT_MAX_BYTES`` (naming
    the biggest files), holds more than ``MAX_FILES`` files, or an include glob leaves the root.
    """
    rules = _ignore_rules(root)
    workflow_rel = PurePosixPath(workflow_rel.strip()).as_posix()
    molcfg_rel = PurePosixPath(workflow_rel).with_name("molcfg.yaml").as_posix()
    wanted: set[str] = set(_candidates(root, rules))
    wanted.update(_included(root, include or []))
    if (root / molcfg_rel).is_file():
        wanted.add(molcfg_rel)
    wanted = {rel for rel in wanted if not _excluded_parts(rel) and not _ignored(rules, rel, is_dir=False)}
    wanted.add(workflow_rel)  # the workflow itself is always part of its snapshot
    if len(wanted) > MAX_FILES:
        raise ValidationError({"workflow_source": f"The workflow folder {root} holds {len(wanted)} files to snapshot; "
                                                  f"at most {MAX_FILES}. Leave folders out with {IGNORE_FILE}."})  # fmt: skip
    stats: dict[str, os.stat_result] = {}
    for rel in sorted(wanted):
        if rel == workflow_rel:
            continue
        path = root / rel
        try:
            if not path.resolve().is_relative_to(root):
                continue  # reached through a link leaving the workflow folder: not part of its code
            stats[rel] = path.stat()
        except OSError:
            continue  # vanished while walking
    limit = settings.MOLEXP_SNAPSHOT_MAX_BYTES
    sizes = {rel: st.st_size for rel, st in stats.items()}
    sizes[workflow_rel] = len(source)
    total = sum(sizes.values())
    if total > limit:
        biggest = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:BIGGEST_SHOWN]
        names = ", ".join(f"{rel} ({size:,} bytes)" for rel, size in biggest)
        raise ValidationError(
            {"workflow_source": f"The code snapshot would be {total:,} bytes, above MOLEXP_SNAPSHOT_MAX_BYTES "
             f"({limit:,}). Biggest files: {names}. Leave files out with {IGNORE_FILE} in {root}."}
        )  # fmt: skip
    files = [BundleFile(workflow_rel, hashlib.sha256(source).hexdigest(), len(source), root / workflow_rel, source)]
    for rel, st in stats.items():
        path = root / rel
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        sha = _hash_cache.get(key)
        if sha is not None:
            files.append(BundleFile(rel, sha, st.st_size, path))
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        sha = hashlib.sha256(data).hexdigest()
        if len(_hash_cache) > 50_000:
            _hash_cache.clear()
        # "Racy" files (modified in the last seconds) are not remembered: an edit within the file
        # system's timestamp granularity, keeping the size, would otherwise go unnoticed (as in git).
        if time.time_ns() - st.st_mtime_ns > RACY_NS:
            _hash_cache[key] = sha
        files.append(BundleFile(rel, sha, len(data), path, data))
    return Bundle(files=tuple(files))


def bundle_store(bundle: Bundle) -> None:
    """Store every file of ``bundle`` not yet in storage, once per SHA-256 (outside any transaction).

    The names are claimed first (``code_blob_claim``, docs/lifecycle.md): a garbage collection
    running at the same time either skips them or has deleted them before the existence
    checks below, which then write them again. A claim this process committed in the last
    seconds is not renewed (``blob_claim(recent=True)``): its row still protects the names.
    """
    code_blob_claim(
        sha256s=[item.sha256 for item in bundle.files], recent=True
    )  # launches of one tree: one upsert per few s
    for item in bundle.files:
        if not code_blob_exists(sha256=item.sha256):
            data = item.data
            if data is None or hashlib.sha256(data).hexdigest() != item.sha256:
                data = item.source.read_bytes()
                if hashlib.sha256(data).hexdigest() != item.sha256:
                    raise ValidationError(
                        {"workflow_source": f"{item.path} changed while the launch read it; launch again."}
                    )
            code_blob_store(sha256=item.sha256, data=data)


def bundle_file_read(sha256: str) -> bytes:
    """The stored bytes of one bundle file; ``FileNotFoundError`` when they are not stored."""
    with code_blob_open(sha256=sha256) as fh:
        return fh.read()


# --- in the worker --------------------------------------------------------------------


def bundles_dir() -> Path:
    return Path(settings.MOLEXP_WORK_DIR) / "bundles"


def bundle_materialise(*, manifest: dict[str, dict], snapshot_hash: str) -> Path:
    """The folder holding the bundle's files (built once per ``snapshot_hash``; immutable afterwards).

    Every file is read from storage and checked against its SHA-256 before the folder
    is renamed into place, so a half-built or tampered folder is never used.
    Raises ``ValueError`` for a manifest whose hash or paths are wrong, ``OSError`` if bytes are missing.
    """
    if manifest_hash(manifest) != snapshot_hash:
        raise ValueError("the snapshot manifest does not match its snapshot_hash")
    final = bundles_dir() / snapshot_hash
    if (final / ".complete").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{snapshot_hash[:12]}-"))
    try:
        for rel, entry in manifest.items():
            pure = PurePosixPath(rel)
            if pure.is_absolute() or ".." in pure.parts or not pure.parts:
                raise ValueError(f"unsafe path in snapshot manifest: {rel!r}")
            data = bundle_file_read(entry["sha256"])
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise ValueError(f"stored bytes of {rel} do not match the snapshot")
            target = tmp.joinpath(*pure.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (tmp / ".complete").write_text(snapshot_hash)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / ".complete").exists():  # another process won the race with a complete copy, or not
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def execution_code(*, snapshot: dict, source_blob) -> tuple[bytes, list[Path]]:
    """The workflow bytes to execute and the folders its imports may come from (the bundle only).

    A snapshot with a manifest (SPEC §12) is materialised and its workflow file checked
    against ``source_sha256``; an older one-file snapshot runs alone, with no folder to
    import helpers from (never the live tree). Raises ``WorkflowError`` when the bundle
    cannot be materialised.
    """
    from .workflow.errors import WorkflowError

    source = bytes(source_blob.content)
    files = snapshot.get("files") or {}
    if not files:
        return source, []
    try:
        folder = bundle_materialise(manifest=files, snapshot_hash=snapshot.get("snapshot_hash", ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WorkflowError(f"The run's code snapshot cannot be materialised: {exc}") from None
    rel = PurePosixPath((snapshot.get("workflow_source") or "").strip()).as_posix()
    if rel in files and files[rel].get("sha256") == source_blob.sha256:
        workflow_dir = (folder / rel).parent
        return source, [workflow_dir] if workflow_dir == folder else [workflow_dir, folder]
    raise WorkflowError("The run's code snapshot does not hold its workflow file")


def _is_under(module, folders: tuple[str, ...]) -> bool:
    origin = getattr(module, "__file__", None) or ""
    if not origin:
        paths = list(getattr(module, "__path__", []) or [])
        origin = paths[0] if paths else ""
    return bool(origin) and os.path.abspath(origin).startswith(folders)


#: Module name → the module object already judged to come from outside every workflow folder
#: (the standard library, site-packages): not looked at again while ``sys.modules`` holds that
#: same object. Holding the object keeps its id from being reused by another module.
_outside: dict[str, object] = {}


def _purge(folders: tuple[str, ...], *, extra_prefix: str = "") -> None:
    """Drop from ``sys.modules`` every module loaded from ``folders`` (or named ``extra_prefix…``).

    Cost: one identity check per module already judged; only modules new since the last
    purge have their origin examined.
    """
    known = _outside.get
    for name, module in list(sys.modules.items()):
        if known(name) is module:
            continue
        if (extra_prefix and name.startswith(extra_prefix)) or _is_under(module, folders):
            sys.modules.pop(name, None)
            _outside.pop(name, None)
        else:
            _outside[name] = module


@contextlib.contextmanager
def isolated_imports(*paths: Path) -> Iterator[None]:
    """Import workflow code from ``paths`` only, with no module left over from an earlier run.

    Before: every module loaded from a bundle folder or a live workflow folder is dropped
    from ``sys.modules`` (a helper of an earlier run, or one imported from the live tree),
    and ``paths`` go first on ``sys.path``. After: ``paths`` leave ``sys.path`` and the
    modules loaded from any bundle are dropped again. Third-party packages stay cached.
    Bundle folders never change once complete, so only their own entries of
    ``sys.path_importer_cache`` are dropped (a fresh directory listing), not every finder's.
    """
    folders = tuple(os.path.join(os.path.abspath(p), "") for p in (bundles_dir(), *settings.MOLEXP_WORKFLOW_DIRS))
    _purge(folders, extra_prefix="molexp_workflow_")
    added = [str(p) for p in paths]
    for entry in reversed(added):
        sys.path_importer_cache.pop(entry, None)
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        for entry in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)
            sys.path_importer_cache.pop(entry, None)
        _purge(folders, extra_prefix="molexp_workflow_")


# --- comparing snapshots --------------------------------------------------------------

#: Bytes of diff text one comparison shows at most (the per-file statuses are always complete).
MAX_DIFF_TEXT = 400_000


def manifest_of(snapshot: dict) -> dict[str, dict]:
    """The manifest of a recorded snapshot; an older one-file snapshot is its workflow file alone."""
    files = snapshot.get("files")
    if isinstance(files, dict) and files:
        return files
    sha = snapshot.get("source_sha256")
    if sha:
        rel = PurePosixPath((snapshot.get("workflow_source") or "workflow.py").strip()).as_posix()
        return {rel: {"sha256": sha, "size": snapshot.get("source_size") or 0}}
    return {}


def manifest_compare(old: dict[str, dict], new: dict[str, dict]) -> list[dict]:
    """File by file: ``{"path", "status": identical|changed|added|removed, "old", "new"}`` sorted by path."""
    rows = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a is None:
            status = "added"
        elif b is None:
            status = "removed"
        else:
            status = "identical" if a.get("sha256") == b.get("sha256") else "changed"
        rows.append({"path": path, "status": status, "old": (a or {}).get("sha256"), "new": (b or {}).get("sha256")})
    return rows


def _text(data: bytes | None) -> list[str] | None:
    if data is None:
        return []
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def manifest_diff(
    rows: list[dict], *, read_old, read_new, old_label: str, new_label: str, context_lines: int = 3
) -> tuple[str, list[dict]]:
    """A unified diff of every file that is not identical, and the rows with each file's ``diff``.

    ``read_old``/``read_new`` take a row and return the bytes of its side (None when absent).
    Binary files are named, not diffed; past ``MAX_DIFF_TEXT`` the text is cut with a marker.
    """
    import difflib

    out: list[str] = []
    size = 0
    result = []
    for row in rows:
        entry = dict(row, diff="")
        if row["status"] != "identical":
            try:
                old, new = _text(read_old(row)), _text(read_new(row))
            except OSError as exc:
                old = new = None
                entry["diff"] = f"{row['path']}: cannot be read ({exc.__class__.__name__})\n"
            if old is None or new is None:
                entry["diff"] = entry["diff"] or f"Binary file {row['path']} differs\n"
            else:
                entry["diff"] = "".join(
                    difflib.unified_diff(old, new, fromfile=f"{row['path']} ({old_label})",
                                         tofile=f"{row['path']} ({new_label})", n=context_lines)
                )  # fmt: skip
            if size + len(entry["diff"]) > MAX_DIFF_TEXT:
                entry["diff"] = (
                    f"[{row['path']}: diff not shown, the comparison is longer than {MAX_DIFF_TEXT} bytes]\n"
                )
            size += len(entry["diff"])
            out.append(entry["diff"])
        result.append(entry)
    return "".join(out), result


def stored_reader(side: str):
    """A ``read_*`` callable for ``manifest_diff`` that reads one side's bytes from storage."""

    def read(row: dict) -> bytes | None:
        sha = row.get(side)
        return bundle_file_read(sha) if sha else None

    return read
