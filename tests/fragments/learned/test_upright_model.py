"""The upright model: the NumPy forward pass equals torch's, area resizing, safe save/load, a short training run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from unshuffle.errors import CheckpointError, ConfigError
from unshuffle.fragments.learned.upright_model import area_resize, load_upright_model, save_upright_model
from unshuffle.fragments.learned.upright_training import (
    UprightNet,
    UprightTrainConfig,
    export_numpy,
    four_turns,
    train_upright_model,
)


def _random_net(seed: int = 0) -> UprightNet:
    torch.manual_seed(seed)
    net = UprightNet(32, (8, 16, 16), (2, 2, 1))
    for m in net.modules():  # non-trivial batch-norm statistics, so the folding is exercised
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def test_numpy_forward_equals_torch_on_random_weights():
    net = _random_net()
    x = np.random.default_rng(0).normal(size=(6, 32, 32, 3)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(export_numpy(net).logits(x), expected, rtol=1e-4, atol=1e-5)


def test_turn_scores_follow_the_picture_turn():
    """Turning a picture by k shifts its scores: turn q of the turned picture scores as q + k of the original."""
    model = export_numpy(_random_net(1))
    pic = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    base = model.turn_log_probs([pic], views=(0, 1, 2, 3))[0]
    for k in range(4):
        turned = model.turn_log_probs([np.rot90(pic, k)], views=(0, 1, 2, 3))[0]
        np.testing.assert_allclose(turned, np.roll(base, -k), rtol=1e-4, atol=1e-4)


def test_four_turns_match_numpy_rot90():
    x = torch.arange(2 * 4 * 4 * 3, dtype=torch.float32).reshape(2, 4, 4, 3)
    turned, cls = four_turns(x)
    for r in range(4):
        np.testing.assert_array_equal(turned[2 * r:2 * r + 2].numpy(), np.rot90(x.numpy(), r, axes=(1, 2)))
    assert cls.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_area_resize_averages_blocks_and_keeps_constants():
    img = np.arange(4 * 6 * 3, dtype=np.float64).reshape(4, 6, 3).astype(np.uint8)
    np.testing.assert_allclose(area_resize(img, 2), img.reshape(2, 2, 2, 3, 3).mean(axis=(1, 3)), rtol=1e-6)
    flat = np.full((50, 70, 3), 77, np.uint8)  # not whole blocks: the weighted path
    np.testing.assert_allclose(area_resize(flat, 32), 77.0, rtol=1e-5)


def test_save_load_roundtrip(tmp_path):
    model = export_numpy(_random_net(), {"note": "test"})
    save_upright_model(model, tmp_path / "m.npz")
    loaded = load_upright_model(tmp_path / "m.npz")
    x = np.random.default_rng(2).normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.logits(x), model.logits(x), rtol=1e-6)
    assert loaded.meta == {"note": "test"} and loaded.arch() == model.arch()


def test_shipped_model_loads():
    model = load_upright_model()
    assert model.size == 32 and model.meta["val_turn_accuracy"] > 0.4  # chance is 0.25


def test_loader_refuses_pickles_and_foreign_files(tmp_path):
    obj = tmp_path / "obj.npz"
    np.savez(obj, header=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(CheckpointError, match="obj.npz"):
        load_upright_model(obj)
    other = tmp_path / "other.npz"
    np.savez(other, header=np.frombuffer(json.dumps({"format": "nope"}).encode(), np.uint8))
    with pytest.raises(CheckpointError, match="not an upright model"):
        load_upright_model(other)
    model = export_numpy(_random_net())
    save_upright_model(model, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        arrays = dict(z)
    arrays["conv1.weight"] = arrays["conv1.weight"][:, :3]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_upright_model(tmp_path / "bad.npz")
    with pytest.raises(CheckpointError, match="not found"):
        load_upright_model(tmp_path / "missing.npz")


def test_short_training_run_writes_a_loadable_export(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    cfg = UprightTrainConfig("unused", str(tmp_path / "run"), image_size=32, size=16, channels=(4, 8),
                             strides=(2, 2), steps=3, batch=8, threads=1, export=str(tmp_path / "m.npz"))
    result = train_upright_model(cfg, images=images)
    assert result["steps"] == 3 and 0.0 <= result["val_turn_accuracy"] <= 1.0
    assert load_upright_model(tmp_path / "m.npz").size == 16
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 1


def test_config_checks_name_the_field():
    with pytest.raises(ConfigError, match="steps"):
        UprightTrainConfig("x", "y", steps=0).validate()
    with pytest.raises(ConfigError, match="multiple"):
        UprightTrainConfig("x", "y", size=30).validate()
