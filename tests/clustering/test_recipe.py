"""The machine-fitted recipe: choice by image count and device (hand-computed epochs and warm-ups), the
user's settings on top (and listed as replaced). The CLI's printing and recording: tests/cli/test_cluster_recipe.py."""

from __future__ import annotations

import json

import pytest
import torch

from unshuffle.clustering import recipe as rc
from unshuffle.clustering.recipe import Recipe, auto_config, choose_recipe, detect_device
from unshuffle.errors import ConfigError


def test_gpu_gets_the_reference_recipe():
    r = choose_recipe(2000, 10, "gpu")
    assert (r.name, r.preset, r.overrides) == ("reference", "default", {})
    assert "accelerator" in r.reason


def test_cpu_collection_gets_the_spectral_warm_start():
    r = choose_recipe(2000, 10, "cpu")
    assert (r.name, r.preset) == ("cpu-spectral", "cpu")
    assert r.overrides == {"head.init": "spectral", "head.init_epochs": rc.INIT_EPOCHS,
                           "optim.epochs": rc.SMALL_EPOCHS,
                           "optim.warmup_epochs": max(1, round(rc.SMALL_EPOCHS / 20)),
                           "loss.teacher_temp_warmup_epochs": max(1, round(rc.SMALL_EPOCHS / 10))}
    assert "2000 images" in r.reason and "32 steps" in r.reason  # ceil(2000 / 64) = 32
    assert choose_recipe(rc.SPECTRAL_INIT_MAX_N, 10, "cpu").name == "cpu-spectral"  # the bound is inclusive
    assert choose_recipe(rc.SPECTRAL_INIT_MAX_N + 1, 10, "cpu").name == "cpu"
    assert choose_recipe(11, 10, "cpu").name == "cpu"  # K = N - 1: no spectral clustering, random heads
    assert choose_recipe(12, 10, "cpu").name == "cpu-spectral"


@pytest.mark.parametrize(("n", "epochs", "overrides"), [
    (50_001, 12, {"optim.epochs": 12, "optim.warmup_epochs": 1, "loss.teacher_temp_warmup_epochs": 1}),  # 782 steps
    (1_000_000, 10, {"optim.epochs": 10, "optim.warmup_epochs": 1, "loss.teacher_temp_warmup_epochs": 1}),
])
def test_large_cpu_collections_keep_the_step_budget(n, epochs, overrides):
    assert rc.MAX_STEPS == 10_000 and rc.CPU_EPOCHS == 60 and rc.MIN_EPOCHS == 10  # the numbers used above
    r = choose_recipe(n, 10, "cpu")
    assert r.name == "cpu" and r.overrides == overrides
    assert f"for {epochs} epochs" in r.reason


def test_choose_recipe_refuses_bad_input():
    with pytest.raises(ConfigError, match="device cpu or gpu, got 1000, 10, 'tpu'"):
        choose_recipe(1000, 10, "tpu")
    with pytest.raises(ConfigError, match="n_images >= 2"):
        choose_recipe(1, 10, "cpu")


def test_detect_device():
    assert detect_device("cpu") == "cpu" and detect_device("gpu") == "gpu"
    assert detect_device("auto") == ("gpu" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="accelerator must be one of auto, cpu, gpu, got 'npu'"):
        detect_device("npu")


def test_auto_config_applies_the_recipe_then_the_users_settings(tmp_path):
    cfg, r = auto_config(1000, None, ["clusters=10", "accelerator=cpu"])
    assert r.name == "cpu-spectral" and r.replaced == ()
    assert cfg.head.init == "spectral" and cfg.optim.epochs == rc.SMALL_EPOCHS
    assert cfg.head.n_heads == 4 and cfg.optim.batch_size == 64  # from the cpu preset under it
    f = tmp_path / "c.yaml"
    f.write_text("optim:\n  epochs: 7\n")
    cfg, r = auto_config(1000, f, ["clusters=10", "accelerator=cpu", "head.init=random"])
    assert cfg.optim.epochs == 7 and cfg.head.init == "random"
    assert r.replaced == ("head.init", "optim.epochs")  # in the recipe's order
    assert "replaced by your settings: head.init, optim.epochs" in r.describe()
    _, r = auto_config(1000, None, ["clusters=10", "accelerator=gpu"])
    assert r.name == "reference"


def test_recipe_to_dict_is_plain_json():
    r = Recipe("x", "cpu", {"optim.epochs": 3}, "why", 5, "cpu", ("optim.epochs",))
    assert json.loads(json.dumps(r.to_dict()))["replaced"] == ["optim.epochs"]
