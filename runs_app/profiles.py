"""Profiles: ``molcfg.yaml`` resolution, overrides and the config hash (SPEC §5).

Invariants:
- Resolution is ``defaults ← extended chain (root first) ← profile ← overrides``,
  merged deeply (mappings merge key by key; any other value replaces).
- Profile names normalize ``-`` to ``_`` both in the file and in requests.
- ``config_hash`` is the hex SHA-256 of
  ``json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
  encoded as UTF-8, exactly.
- Every problem raises ``ProfileError`` whose message names it (the profile,
  the cycle, the YAML line, the override); nothing here touches the database.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

MOLCFG_NAME = "molcfg.yaml"


class ProfileError(ValueError):
    """A molcfg.yaml, profile or override problem, with a message naming it."""


def normalize_profile_name(name: str) -> str:
    return (name or "").strip().replace("-", "_")


def config_hash(config: dict) -> str:
    payload = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def deep_merge(base: dict, top: dict) -> dict:
    """A new mapping: ``top`` merged over ``base``; nested mappings merge, other values replace."""
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_molcfg(text: str, *, source: str = MOLCFG_NAME) -> dict:
    """Parse and validate molcfg text; returns ``{"defaults": {...}, "profiles": {normalized: {...}}}``.

    The parse of identical text is remembered (every launch parses the same file): the
    caller always gets its own deep copy, and text that fails is parsed (and fails) again.
    """
    return copy.deepcopy(_parse_molcfg_cached(text, source))


@functools.lru_cache(maxsize=64)
def _parse_molcfg_cached(text: str, source: str) -> dict:
    return _parse_molcfg(text, source=source)


def _parse_molcfg(text: str, *, source: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(f"{source}: invalid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: the top level must be a mapping, not {type(data).__name__}")
    version = data.get("version", 1)
    if version != 1:
        raise ProfileError(f"{source}: unsupported version {version!r} (expected 1)")
    unknown = set(data) - {"version", "defaults", "profiles", "snapshot"}
    if unknown:
        raise ProfileError(f"{source}: unknown top-level keys: {', '.join(sorted(map(str, unknown)))}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ProfileError(f"{source}: 'defaults' must be a mapping")
    profiles_raw = data.get("profiles") or {}
    if not isinstance(profiles_raw, dict):
        raise ProfileError(f"{source}: 'profiles' must be a mapping of name → mapping")
    profiles: dict[str, dict] = {}
    for name, body in profiles_raw.items():
        norm = normalize_profile_name(str(name))
        if norm in profiles:
            raise ProfileError(f"{source}: profiles {name!r} and another name both normalize to {norm!r}")
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ProfileError(f"{source}: profile {name!r} must be a mapping")
        extends = body.get("extends")
        if extends is not None and not isinstance(extends, str):
            raise ProfileError(f"{source}: profile {name!r}: 'extends' must be a profile name")
        profiles[norm] = body
    for norm, body in profiles.items():
        if body.get("extends") is not None and normalize_profile_name(body["extends"]) not in profiles:
            raise ProfileError(f"{source}: profile {norm!r} extends unknown profile {body['extends']!r}")
    for norm in profiles:  # cycles are a file error, reported whichever profile is asked for
        chain = [norm]
        parent = profiles[norm].get("extends")
        while parent is not None:
            parent = normalize_profile_name(parent)
            if parent in chain:
                raise ProfileError(f"{source}: profile inheritance cycle: {' → '.join([*chain, parent])}")
            chain.append(parent)
            parent = profiles[parent].get("extends")
    return {"defaults": defaults, "profiles": profiles, "snapshot_include": _snapshot_include(data, source=source)}


def _snapshot_include(data: dict, *, source: str) -> list[str]:
    """The globs of ``snapshot: {include: [...]}`` (SPEC §12): extra files of the code snapshot."""
    snapshot = data.get("snapshot")
    if snapshot is None:
        return []
    if not isinstance(snapshot, dict) or set(snapshot) - {"include"}:
        raise ProfileError(f"{source}: 'snapshot' must be a mapping with one key, 'include' (a list of globs)")
    include = snapshot.get("include") or []
    if not isinstance(include, list) or not all(isinstance(g, str) and g.strip() for g in include):
        raise ProfileError(f"{source}: 'snapshot.include' must be a list of glob strings")
    return [g.strip() for g in include]


def load_molcfg(path: Path) -> dict:
    """Read ``molcfg.yaml`` at ``path``; a missing file means no defaults and no profiles."""
    if not path.exists():
        return {"defaults": {}, "profiles": {}}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path.name}: cannot be read: {exc}") from None
    return parse_molcfg(text, source=str(path.name))


def resolve_profile(molcfg: dict, profile: str | None) -> tuple[str, dict]:
    """The normalized profile name and ``defaults ← extended chain ← profile`` (without ``extends``).

    An empty profile name picks ``default`` when the file defines it, else the defaults alone.
    """
    profiles = molcfg["profiles"]
    name = normalize_profile_name(profile or "")
    if not name:
        if "default" not in profiles:
            return "", copy.deepcopy(molcfg["defaults"])
        name = "default"
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none defined"
        raise ProfileError(f"Unknown profile {profile!r} (known: {known})")
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current in chain:
            cycle = " → ".join([*chain, current])
            raise ProfileError(f"Profile inheritance cycle: {cycle}")
        chain.append(current)
        parent = profiles[current].get("extends")
        current = normalize_profile_name(parent) if parent is not None else None
    config = copy.deepcopy(molcfg["defaults"])
    for link in reversed(chain):
        body = {k: v for k, v in profiles[link].items() if k != "extends"}
        config = deep_merge(config, body)
    return name, config


def coerce_value(raw: str) -> Any:
    """Coerce an override value: bool, then int, then float (finite), then the string itself."""
    text = raw.strip()
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return raw
    return number if math.isfinite(number) else raw


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"optimizer.lr=5e-4"`` → ``(["optimizer", "lr"], 0.0005)``; raises ``ProfileError`` if malformed."""
    if not isinstance(item, str) or "=" not in item:
        raise ProfileError(f"Malformed override {item!r}: expected KEY=VALUE (e.g. optimizer.lr=5e-4)")
    key, value = item.split("=", 1)
    key = key.strip()
    # Bounded before the key is split or walked: a key of thousands of dotted parts would nest the
    # config that deep, and serializing it (the config hash) would exhaust the recursion limit.
    max_length, max_depth = settings.MOLEXP_OVERRIDE_MAX_KEY_LENGTH, settings.MOLEXP_OVERRIDE_MAX_KEY_DEPTH
    if len(key) > max_length:
        raise ProfileError(f"Override key {key[:40]!r}… is {len(key)} characters long; at most {max_length}.")
    if key.count(".") + 1 > max_depth:
        raise ProfileError(
            f"Override key {key[:40]!r}… has {key.count('.') + 1} dotted parts; at most {max_depth} levels."
        )
    path = key.split(".")
    if not key or any(not part.strip() for part in path):
        raise ProfileError(f"Malformed override {item!r}: the key {key!r} has an empty part")
    return [part.strip() for part in path], coerce_value(value)


def apply_overrides(config: dict, overrides: list[str]) -> dict:
    """A new config with each ``KEY=VALUE`` override set at its dot path (intermediate mappings created)."""
    result = copy.deepcopy(config)
    for item in overrides or []:
        path, value = parse_override(item)
        node = result
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ProfileError(f"Override {item!r}: {where!r} is {child!r}, not a mapping")
            node = child
        node[path[-1]] = value
    return result


def build_config(molcfg: dict, profile: str | None, overrides: list[str] | None) -> tuple[str, dict, str]:
    """Resolve a profile and apply overrides: ``(normalized profile, config, config_hash)``."""
    name, config = resolve_profile(molcfg, profile)
    config = apply_overrides(config, overrides or [])
    try:
        digest = config_hash(config)
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"The merged config is not JSON-serializable: {exc}") from None
    return name, config, digest


def _key_paths(mapping: dict, prefix: str, out: set[str]) -> None:
    for key, value in mapping.items():
        if not prefix and key == "extends":
            continue
        path = f"{prefix}{key}"
        out.add(path)
        if isinstance(value, dict):
            _key_paths(value, f"{path}.", out)


def known_config_keys(molcfg: dict) -> set[str]:
    """Every dotted key (leaves and the mappings above them) the defaults or any profile define."""
    keys: set[str] = set()
    _key_paths(molcfg.get("defaults") or {}, "", keys)
    for body in (molcfg.get("profiles") or {}).values():
        _key_paths(body or {}, "", keys)
    return keys


def override_warnings(molcfg: dict, overrides: list[str] | None) -> list[str]:
    """A warning per override whose key no profile nor the defaults define, with the closest known
    keys ("did you mean …?", ``difflib``). Launching stays allowed: an override may add a key on purpose.

    Call it after ``build_config`` (which refuses malformed overrides); a file with no keys at all
    (no molcfg.yaml) warns about nothing: everything is an addition there.
    """
    known = known_config_keys(molcfg)
    if not known:
        return []
    warnings = []
    for item in overrides or []:
        path, _ = parse_override(item)
        key = ".".join(path)
        if key in known:
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        warnings.append(f"Override key {key!r} is not defined by any profile or the defaults: it adds a new key.{hint}")
    return warnings
