"""TEMI config: presets, YAML (safe loader), key=value overrides, validation messages."""

from __future__ import annotations

import json

import pytest

from unshuffle.clustering.config import (
    PRESETS,
    OptimConfig,
    TemiConfig,
    batch_for,
    config_from_dict,
    load_config,
    neighbours_for,
    parse_overrides,
)
from unshuffle.errors import ConfigError


def test_defaults_follow_the_reference_and_round_trip():
    cfg = load_config(overrides=["clusters=10"])
    assert (cfg.head.n_heads, cfg.loss.beta, cfg.optim.epochs, cfg.knn) == (16, 0.6, 100, 0)
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(AttributeError):
        cfg.knn = 3  # frozen


def test_cpu_preset_yaml_and_overrides_in_that_order(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("clusters: 200\noptim:\n  epochs: 40\n  lr: 0.001\nhead:\n  normalize: l2\n")
    cfg = load_config(f, ["optim.lr=2e-4", "seed=3"], preset="cpu")
    assert cfg.head.n_heads == PRESETS["cpu"]["head.n_heads"]  # from the preset
    assert cfg.optim.epochs == 40 and cfg.head.normalize == "l2"  # file over preset
    assert cfg.optim.lr == 2e-4 and cfg.seed == 3  # command line over file
    assert isinstance(load_config(overrides=["clusters=3", "optim.lr=1"]).optim.lr, float)


@pytest.mark.parametrize(("overrides", "message"), [
    (["clusters=1"], r"clusters must be in \[2, 1000000\], got 1"),
    (["loss.beta=0"], r"loss.beta must be in \[0.001, 1.0\], got 0.0"),
    (["head.normalize=zscore"], "head.normalize must be one of standardize, l2, none, got 'zscore'"),
    (["optim.epochs=2.5"], "optim.epochs must be of type int, got 2.5"),
    (["optim.epochs=ten"], "optim.epochs must be of type int, got 'ten'"),
    (["optim.lrate=1"], "unknown setting 'optim.lrate'; valid settings: .*optim.lr"),
    (["head.n_heads"], "must look like key=value"),
    (["loss.teacher_temp_warmup_epochs=100"], "loss.teacher_temp_warmup_epochs must be < optim.epochs"),
    (["accelerator=tpu"], "accelerator must be one of auto, cpu, gpu"),
])
def test_bad_settings_name_the_field_and_the_range(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=["clusters=10", *overrides])


def test_file_errors_name_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("optim:\n  momentum: 0.9\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown setting 'optim.momentum'"):
        load_config(f, ["clusters=3"])
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: expected a mapping"):
        load_config(f, ["clusters=3"])
    f.write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(f, ["clusters=3"])  # the safe loader refuses to build objects
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="preset must be one of default, cpu"):
        load_config(preset="gpu")
    with pytest.raises(ConfigError, match="clusters must be given"):
        load_config()
    # found by the fuzz suite: one line, not PyYAML's several; bytes that are not UTF-8; empty mappings
    f.write_text("clusters: *nowhere\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML \(line 1, column 11: found undefined alias"):
        load_config(f)
    for text in ("clusters: 2001-22-14\n", "seed: !!int x\n", "seed: " + "[" * 5000 + "]" * 5000 + "\n"):
        f.write_text(text)
        with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
            load_config(f)  # PyYAML's constructors raise ValueError / RecursionError, not YAMLError
    f.write_bytes(b"clusters: 3\nseed: \x80\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not UTF-8 text \(byte 18\)"):
        load_config(f)
    f.write_text("clusters: 3\noptim:\n  lr: {}\n")
    with pytest.raises(ConfigError, match=r"optim.lr must be of type float, got \{\}"):
        load_config(f)  # was: silently the default learning rate
    f.write_text("clusters: 3\nsomething: {}\n")
    with pytest.raises(ConfigError, match="unknown setting 'something'"):
        load_config(f)
    f.write_text("clusters: 3\noptim: {}\n")
    assert load_config(f).clusters == 3  # an empty section is still fine


def test_overrides_parse_yaml_scalars():
    assert parse_overrides(["a=1", "b=1.5e-3", "c=true", "d=l2"]) == {"a": 1, "b": 1.5e-3, "c": True, "d": "l2"}
    assert load_config(overrides=["clusters=3", "optim.lr=1e-3"]).optim.lr == 1e-3  # YAML 1.1 reads 1e-3 as text
    assert TemiConfig().validate is not None


def test_auto_neighbour_count_reads_only_sizes():
    assert neighbours_for(0, 50_000, 10) == 50  # the reference's regime: clusters of thousands
    assert neighbours_for(0, 10_000, 200) == 12  # a quarter of an average cluster of 50
    assert neighbours_for(0, 100, 50) == 5  # never below 5 ...
    assert neighbours_for(0, 4, 2) == 3  # ... nor N - 1
    assert neighbours_for(20, 10_000, 200) == 20  # an explicit count wins


def test_batch_shrinks_on_small_collections_only():
    ref = OptimConfig()  # batch 1024, at least 100 steps per epoch
    assert batch_for(ref, 1_281_167) == (1024, 4.0)  # ImageNet: the reference recipe untouched
    assert batch_for(ref, 50_000) == (256, 4.0)  # 196 steps; 512 would give 98
    assert batch_for(ref, 10_000) == (64, 4.0)  # 157 steps; per-step rate of the configured batch kept
    assert batch_for(ref, 2_000) == (64, 4.0)  # never below 64 ...
    assert batch_for(OptimConfig(batch_size=40), 200) == (40, 40 / 256)  # ... nor above what was asked
    assert batch_for(OptimConfig(min_steps_per_epoch=0), 10_000) == (1024, 4.0)  # 0 turns the rule off
    assert batch_for(ref, 500) == (125, 500 / 256)  # a batch larger than the data is first cut to it
