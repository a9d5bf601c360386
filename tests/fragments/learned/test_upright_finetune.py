"""Fine-tuned upright models: the tuned blocks travel as arrays, rebuild the same network, survive save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unshuffle.errors import CheckpointError, ConfigError, UnshuffleError
from unshuffle.fragments.learned.upright_model import load_upright_model, save_upright_model
from unshuffle.fragments.learned.upright_training import UprightTrainConfig, train_upright_model

torch = pytest.importorskip("torch")


def _cfg(tmp_path, **kw) -> UprightTrainConfig:
    base = dict(train_dir="<array>", output_dir=str(tmp_path / "run"), size=32, blocks=4, tune_from=3, hidden=8,
                epochs=1, batch=16, threads=1, val_fraction=0.2, crops_per_image=1, export=str(tmp_path / "m.npz"),
                feature_cache=str(tmp_path / "maps"), trunk_lr=1e-2)
    return UprightTrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A tiny fine-tuning run (Lite0 blocks 0-3 at 32 px, block 3 tuned) and its exported file."""
    tmp_path = tmp_path_factory.mktemp("tune")
    mp = pytest.MonkeyPatch()
    mp.setenv("UNSHUFFLE_CACHE_DIR", str(tmp_path / "cache"))
    images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    result = train_upright_model(_cfg(tmp_path), images)
    yield tmp_path, result, images
    mp.undo()


def test_fine_tuning_exports_the_tuned_block_as_arrays(tuned):
    from unshuffle.fragments.learned.upright_backbone import torch_trunk

    tmp_path, result, _ = tuned
    model = load_upright_model(tmp_path / "m.npz")
    base = {k: v.numpy() for k, v in torch_trunk(4).state_dict().items() if v.is_floating_point()}
    assert sorted(model.trunk_arrays) == sorted(k for k in base if k.startswith("blocks.3."))
    assert model.map_shape == (40, 4, 4) and model.blocks == 4 and model.meta["config"]["tune_from"] == 3
    assert result["train_images"] == 16 and result["train_samples"] == 32 and result["steps"] == 8
    w = "blocks.3._expand_conv.weight"
    assert model.trunk_arrays[w].shape == base[w].shape and not np.allclose(model.trunk_arrays[w], base[w])
    assert result["val_turn_accuracy"] == pytest.approx(result["val_turn_accuracy_torch"], abs=0.07)


def test_save_load_gives_identical_outputs_and_the_onnx_trunk_equals_torch(tuned, monkeypatch):
    from unshuffle.fragments.learned.upright_backbone import torch_trunk

    tmp_path, _, images = tuned
    monkeypatch.setenv("UNSHUFFLE_CACHE_DIR", str(tmp_path / "cache"))
    model = load_upright_model(tmp_path / "m.npz")
    save_upright_model(model, tmp_path / "again.npz")
    back = load_upright_model(tmp_path / "again.npz")
    assert back.arch() == model.arch()
    for k, v in model.trunk_arrays.items():
        np.testing.assert_array_equal(back.trunk_arrays[k], v)
    pics = list(images[:5])
    np.testing.assert_array_equal(back.turn_log_probs(pics), model.turn_log_probs(pics))
    x = np.random.default_rng(1).normal(size=(2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = torch_trunk(4, model.trunk_arrays)(torch.from_numpy(x)).numpy()
        plain = torch_trunk(4)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.trunk()(x), want, atol=1e-4)
    assert np.abs(want - plain).max() > 1e-3  # the tuned block is what runs
    onnx = tmp_path / "cache" / "onnx"  # the frozen lower trunk (training), the tuned trunk (export) and the
    # tuned trunk with its head (solve)
    assert len(list(onnx.glob("upright-lite0-b3-s32-*.onnx"))) == len(list(onnx.glob("upright-lite0-b4-s32-[!h]*"))) \
        == len(list(onnx.glob("upright-lite0-b4-s32-head-*"))) == 1


def test_tuned_arrays_that_do_not_fit_are_refused(tuned):
    from unshuffle.fragments.learned.upright_backbone import torch_trunk

    tmp_path, _, _ = tuned
    model = load_upright_model(tmp_path / "m.npz")
    with pytest.raises(UnshuffleError, match=r"blocks.3._bn0.weight \(7,\) does not fit"):
        torch_trunk(4, {"blocks.3._bn0.weight": np.zeros(7, np.float32)})
    with pytest.raises(UnshuffleError, match="blocks.9.x.weight.*absent"):
        torch_trunk(4, {"blocks.9.x.weight": np.zeros(3, np.float32)})
    header = {"format": "unshuffle-upright-model/2", "arch": model.arch()}
    arrays = {k: v for k, v in model.arrays.items()}  # the header lists tuned arrays the file lacks
    np.savez(tmp_path / "no_trunk.npz", header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    with pytest.raises(CheckpointError, match="no_trunk.npz.*tuned trunk arrays"):
        load_upright_model(tmp_path / "no_trunk.npz")


def test_tune_from_is_checked():
    with pytest.raises(ConfigError, match="tune_from must be 0 or an integer in"):
        UprightTrainConfig(train_dir="x", output_dir="y", blocks=11, tune_from=11).validate()
    with pytest.raises(ConfigError, match="trunk_lr must be > 0"):
        UprightTrainConfig(train_dir="x", output_dir="y", tune_from=8, trunk_lr=0.0).validate()


def test_a_frozen_trunk_file_without_tuned_arrays_still_loads(tuned):
    """Files written before fine-tuning existed (no "tuned" in the header) load with the package's trunk."""
    tmp_path, _, _ = tuned
    model = load_upright_model(tmp_path / "m.npz")
    arch = {k: v for k, v in model.arch().items() if k != "tuned"}
    header = {"format": "unshuffle-upright-model/2", "arch": arch}
    np.savez(tmp_path / "old.npz", header=np.frombuffer(json.dumps(header).encode(), np.uint8), **model.arrays)
    old = load_upright_model(tmp_path / "old.npz")
    assert old.trunk_arrays == {} and old.arch()["tuned"] == {}
    np.testing.assert_array_equal(old.arrays["out.weight"], model.arrays["out.weight"])
