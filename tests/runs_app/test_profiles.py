"""molcfg.yaml resolution, overrides and config_hash exactly as SPEC §5 defines them."""

import hashlib
import json

import pytest

from runs_app.profiles import (
    ProfileError,
    apply_overrides,
    build_config,
    coerce_value,
    config_hash,
    parse_molcfg,
    resolve_profile,
)

MOLCFG = """
version: 1
defaults:
  optimizer: {name: adam, lr: 0.001, betas: [0.9, 0.999]}
  epochs: 10
  data: {path: ligands.csv}
profiles:
  default: {}
  smoke:
    epochs: 1
  full-scale:
    extends: smoke
    epochs: 100
    optimizer: {lr: 0.0005}
  gpu-large:
    extends: full-scale
    device: cuda
"""


def test_extends_chain_deep_merges_root_first():
    name, config = resolve_profile(parse_molcfg(MOLCFG), "gpu-large")
    assert name == "gpu_large"
    assert config == {
        "optimizer": {"name": "adam", "lr": 0.0005, "betas": [0.9, 0.999]},
        "epochs": 100,
        "data": {"path": "ligands.csv"},
        "device": "cuda",
    }


def test_dash_and_underscore_names_are_the_same_profile():
    cfg = parse_molcfg(MOLCFG)
    assert resolve_profile(cfg, "full_scale") == resolve_profile(cfg, "full-scale")


def test_empty_profile_picks_default_or_defaults():
    assert resolve_profile(parse_molcfg(MOLCFG), "")[0] == "default"
    name, config = resolve_profile(parse_molcfg("defaults: {a: 1}"), None)
    assert (name, config) == ("", {"a": 1})


def test_unknown_profile_names_known_ones():
    with pytest.raises(ProfileError, match=r"Unknown profile 'nope' \(known: default, full_scale, gpu_large, smoke\)"):
        resolve_profile(parse_molcfg(MOLCFG), "nope")


def test_cycle_is_reported_with_its_names():
    text = "profiles:\n  a: {extends: b}\n  b: {extends: c}\n  c: {extends: a}\n"
    with pytest.raises(ProfileError, match="cycle: a → b → c → a"):
        resolve_profile(parse_molcfg(text), "a")


def test_extends_unknown_profile():
    with pytest.raises(ProfileError, match="extends unknown profile 'ghost'"):
        parse_molcfg("profiles:\n  a: {extends: ghost}\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defaults: [1, 2", "invalid YAML at line"),
        ("- 1\n- 2\n", "top level must be a mapping"),
        ("version: 2\n", "unsupported version 2"),
        ("defaults: 3\n", "'defaults' must be a mapping"),
        ("profiles:\n  a: 3\n", "profile 'a' must be a mapping"),
        ("profiles:\n  a-b: {}\n  a_b: {}\n", "normalize to 'a_b'"),
        ("colour: red\n", "unknown top-level keys: colour"),
    ],
)
def test_bad_molcfg_is_named(text, message):
    with pytest.raises(ProfileError, match=message):
        parse_molcfg(text)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("False", False),
        ("3", 3),
        ("-7", -7),
        ("5e-4", 5e-4),
        ("0.1", 0.1),
        ("adam", "adam"),
        ("nan", "nan"),
        ("", ""),
        ("1.2.3", "1.2.3"),
    ],
)
def test_override_coercion_bool_int_float_str(raw, value):
    result = coerce_value(raw)
    assert result == value and type(result) is type(value)


def test_overrides_follow_dot_paths_and_create_mappings():
    config = apply_overrides({"optimizer": {"lr": 0.1}}, ["optimizer.lr=5e-4", "model.depth=4", "tag=a=b"])
    assert config == {"optimizer": {"lr": 5e-4}, "model": {"depth": 4}, "tag": "a=b"}


@pytest.mark.parametrize("bad", ["novalue", "=3", "a..b=1", ".a=1", "a.=1"])
def test_malformed_overrides_are_named(bad):
    with pytest.raises(ProfileError, match="Malformed override"):
        apply_overrides({}, [bad])


def test_override_through_a_scalar_is_refused():
    with pytest.raises(ProfileError, match="'epochs' is 10, not a mapping"):
        apply_overrides({"epochs": 10}, ["epochs.max=3"])


def test_config_hash_is_the_specified_formula():
    config = {"b": 1, "a": {"é": [1, 2.5, True]}}
    expected = hashlib.sha256(
        json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    assert config_hash(config) == expected
    assert config_hash({"a": {"é": [1, 2.5, True]}, "b": 1}) == expected


def test_build_config_end_to_end():
    name, config, digest = build_config(parse_molcfg(MOLCFG), "full-scale", ["optimizer.lr=0.01", "debug=true"])
    assert name == "full_scale"
    assert config["optimizer"]["lr"] == 0.01 and config["debug"] is True and config["epochs"] == 100
    assert digest == config_hash(config)


def test_non_json_config_is_an_error():
    with pytest.raises(ProfileError, match="not JSON-serializable"):
        build_config(parse_molcfg("defaults: {when: 2024-01-01}"), None, [])


def test_cycle_is_a_file_error_whatever_profile_is_asked():
    with pytest.raises(ProfileError, match="inheritance cycle: a → a"):
        parse_molcfg("profiles:\n  a: {extends: a}\n  b: {}\n")
