"""The upright model: head arithmetic, turn bookkeeping, the ONNX trunk equals torch's, safe save/load, training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unshuffle.errors import CheckpointError, ConfigError
from unshuffle.fragments.learned.upright_model import (
    UprightModel,
    area_resize,
    load_upright_model,
    save_upright_model,
)
from unshuffle.fragments.learned.upright_training import UprightTrainConfig, channel_stats, train_upright_model


def _pool_trunk(x: np.ndarray) -> np.ndarray:
    """A stand-in trunk: (B, 3, 16, 16) -> (B, 3, 4, 4) block means (spatial, so turns matter)."""
    return x.reshape(len(x), 3, 4, 4, 4, 4).mean(axis=(3, 5))


def _model(seed: int = 0, hidden: int = 5) -> UprightModel:
    rng = np.random.default_rng(seed)
    f = 3 * 4 * 4
    arrays = {"mean": rng.normal(size=3).astype(np.float32), "std": rng.uniform(0.5, 2, 3).astype(np.float32),
              "hidden.weight": rng.normal(size=(hidden, f)).astype(np.float32),
              "hidden.bias": rng.normal(size=hidden).astype(np.float32),
              "out.weight": rng.normal(size=(4, hidden)).astype(np.float32),
              "out.bias": rng.normal(size=4).astype(np.float32)}
    model = UprightModel(arrays, size=16, blocks=11, map_shape=(3, 4, 4), backbone_sha256="", large_side=32)
    model._engine = _pool_trunk
    model._logit_engine = lambda x: model.head_logits(_pool_trunk(x))  # the fused graph's stand-in
    return model


def test_head_logits_is_standardise_then_relu_mlp():
    model = _model()
    a = model.arrays
    maps = np.random.default_rng(1).normal(size=(2, 3, 4, 4)).astype(np.float32)
    expected = []
    for m in maps:  # one picture at a time, channel-major flattening written out
        z = ((m - a["mean"][:, None, None]) / a["std"][:, None, None]).ravel()
        h = np.maximum(a["hidden.weight"] @ z + a["hidden.bias"], 0)
        expected.append(a["out.weight"] @ h + a["out.bias"])
    np.testing.assert_allclose(model.head_logits(maps), np.array(expected), rtol=1e-5, atol=1e-5)


def test_folded_head_equals_standardise_then_mlp():
    model = _model(5)
    maps = np.random.default_rng(5).normal(size=(3, 3, 4, 4)).astype(np.float32)
    f = model.folded_head()
    h = np.maximum(maps.reshape(3, -1) @ f["W1"].T + f["b1"], 0)
    np.testing.assert_allclose(h @ f["W2"].T + f["b2"], model.head_logits(maps), rtol=1e-4, atol=1e-4)


def test_turn_scores_follow_the_picture_turn():
    """Turning a picture by k shifts its 4-view scores: turn q of the turned picture scores as q + k of the original."""
    model = _model(1)
    pic = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    base = model.turn_log_probs([pic], views=(0, 1, 2, 3))[0]
    for k in range(4):
        turned = model.turn_log_probs([np.rot90(pic, k)], views=(0, 1, 2, 3))[0]
        np.testing.assert_allclose(turned, np.roll(base, -k), rtol=1e-4, atol=1e-4)


def test_one_view_for_small_pictures_four_for_large():
    model = _model(2)
    rng = np.random.default_rng(2)
    small, large = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8), rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    auto = model.turn_log_probs([small, large])
    np.testing.assert_allclose(auto[0], model.turn_log_probs([small], views=(0,))[0], rtol=1e-6)
    np.testing.assert_allclose(auto[1], model.turn_log_probs([large], views=(0, 1, 2, 3))[0], rtol=1e-6)
    assert model.turn_log_probs([]).shape == (0, 4)


def _pool_trunk_any(x: np.ndarray) -> np.ndarray:
    """The stand-in trunk for any shape: (B, 3, H, W) -> (B, 3, H/4, W/4) block means."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 4, 4, w // 4, 4).mean(axis=(3, 5))


def _large_model(seed: int, rule: dict | None = None) -> UprightModel:
    model = _model(seed)
    model.large_size, model.large_rule = 16, rule
    model._large_engine = _pool_trunk_any
    return model


def test_window_log_probs_average_the_head_over_every_window():
    model = _model(3)
    maps = np.random.default_rng(3).normal(size=(2, 3, 5, 6)).astype(np.float32)  # 2 x 3 windows of 4x4
    got = model.window_log_probs(maps)
    for b in range(2):
        windows = [maps[b:b + 1, :, i:i + 4, j:j + 4] for i in range(2) for j in range(3)]
        logits = np.stack([model.head_logits(w)[0] for w in windows])
        logits = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        np.testing.assert_allclose(got[b], logp.mean(axis=0), rtol=1e-5, atol=1e-5)


def test_large_pictures_keep_their_aspect_and_follow_the_turn():
    """A 40 x 72 picture goes to 16 x 32 (not squeezed to a square); its turned copies score consistently."""
    model = _large_model(4)
    seen = []
    model._large_engine = lambda x: (seen.append(x.shape), _pool_trunk_any(x))[1]
    pic = np.random.default_rng(4).integers(0, 256, (40, 72, 3), dtype=np.uint8)
    base = model.turn_log_probs([pic])[0]
    assert seen == [(2, 3, 16, 32), (2, 3, 32, 16)]  # turns 0 and 2, then 1 and 3
    for k in range(4):
        np.testing.assert_allclose(model.turn_log_probs([np.rot90(pic, k)])[0], np.roll(base, -k), atol=1e-4)
    small = np.zeros((16, 24, 3), np.uint8)  # under large_side: one squeezed view, as before
    np.testing.assert_allclose(model.turn_log_probs([small, pic])[0], model.turn_log_probs([small], views=(0,))[0])


def test_the_large_rule_adds_the_cues_to_the_model_scores():
    """With the model's weight 0 only the landscape prior is left: a wide picture is kept wide."""
    pic = np.random.default_rng(5).integers(0, 256, (40, 72, 3), dtype=np.uint8)
    only_prior = _large_model(5, {"model": 0.0, "cues": {"landscape": 1.0}}).turn_log_probs([pic])[0]
    z = np.array([1.0, -1.0, 1.0, -1.0])
    np.testing.assert_allclose(only_prior, z - np.log(np.exp(z).sum()), atol=1e-9)
    bare = _large_model(5).turn_log_probs([pic])[0]
    with_model = _large_model(5, {"model": 1.0, "cues": {}}).turn_log_probs([pic])[0]
    np.testing.assert_allclose(with_model, bare - np.log(np.exp(bare).sum()), atol=1e-9)


def test_large_settings_survive_save_and_load_and_bad_rules_are_refused(tmp_path):
    model = _large_model(6, {"model": 0.5, "cues": {"blue": 0.2, "landscape": 0.3}})
    save_upright_model(model, tmp_path / "m.npz")
    back = load_upright_model(tmp_path / "m.npz")
    assert back.large_size == 16 and back.large_rule == model.large_rule
    model.large_rule = {"model": 1.0, "cues": {"sky_colour": 1.0}}
    save_upright_model(model, tmp_path / "bad.npz")
    with pytest.raises(CheckpointError, match="unknown cues"):
        load_upright_model(tmp_path / "bad.npz")


def test_area_resize_averages_blocks_and_keeps_constants():
    img = np.arange(4 * 6 * 3, dtype=np.float64).reshape(4, 6, 3).astype(np.uint8)
    np.testing.assert_allclose(area_resize(img, 2)[:, :, 0], [[(0 + 3 + 6 + 18 + 21 + 24) / 6,
                                                               (9 + 12 + 15 + 27 + 30 + 33) / 6],
                                                              [(36 + 39 + 42 + 54 + 57 + 60) / 6,
                                                               (45 + 48 + 51 + 63 + 66 + 69) / 6]], rtol=1e-6)
    np.testing.assert_allclose(area_resize(np.full((5, 7, 3), 9, np.uint8), 3), 9.0, rtol=1e-6)


def test_channel_stats_match_numpy():
    maps = np.random.default_rng(3).normal(2, 3, size=(4, 10, 5, 2, 2)).astype(np.float16)
    mean, std = channel_stats(maps, chunk=3)
    x = maps.astype(np.float64)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 3, 4)), rtol=1e-5)
    np.testing.assert_allclose(std, x.std(axis=(0, 1, 3, 4)) + 1e-3, rtol=1e-5)


def test_save_load_round_trip_and_refusals(tmp_path):
    model = _model(4)
    model.meta = {"note": "x"}
    path = tmp_path / "m.npz"
    save_upright_model(model, path)
    back = load_upright_model(path)
    assert back.arch() == model.arch() and back.meta == {"note": "x"}
    for k, v in model.arrays.items():
        np.testing.assert_array_equal(back.arrays[k], v)
    bad = tmp_path / "pickle.npz"
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="pickle.npz"):
        load_upright_model(bad)
    short = dict(model.arrays, **{"out.bias": np.zeros(3, np.float32)})
    np.savez(tmp_path / "short.npz", header=np.frombuffer(json.dumps({"format": "unshuffle-upright-model/2",
                                                                       "arch": model.arch()}).encode(), np.uint8),
             **short)
    with pytest.raises(CheckpointError, match="short.npz.*out.bias"):
        load_upright_model(tmp_path / "short.npz")


def test_a_head_for_other_backbone_weights_is_refused():
    model = _model(5)
    model._engine = model._logit_engine = None
    model.backbone_sha256 = "0" * 64
    with pytest.raises(CheckpointError, match="not those the upright head was trained on"):
        model.turn_log_probs([np.zeros((16, 16, 3), np.uint8)])


def test_onnx_trunk_equals_torch_and_is_cached(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from unshuffle.fragments.learned import upright_backbone as ub

    monkeypatch.setenv("UNSHUFFLE_CACHE_DIR", str(tmp_path))
    x = np.random.default_rng(0).normal(size=(3, 3, 32, 32)).astype(np.float32)
    got = ub.trunk_engine(4, 32)(x)
    with torch.no_grad():
        want = ub.torch_trunk(4)(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape == (3, 40, 4, 4)
    np.testing.assert_allclose(got, want, atol=1e-4)
    cached = list((tmp_path / "onnx").glob("upright-lite0-b4-s32-*.onnx"))
    assert len(cached) == 1
    np.testing.assert_array_equal(ub.trunk_engine(4, 32)(x), got)  # from the cache, bit for bit


def test_onnx_trunk_with_its_head_equals_torch_trunk_then_numpy_head(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from unshuffle.fragments.learned import upright_backbone as ub

    monkeypatch.setenv("UNSHUFFLE_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(1)
    head = {"W1": rng.normal(size=(6, 40 * 4 * 4)).astype(np.float32) / 10, "b1": rng.normal(size=6).astype(np.float32),
            "W2": rng.normal(size=(4, 6)).astype(np.float32), "b2": rng.normal(size=4).astype(np.float32)}
    x = rng.normal(size=(3, 3, 32, 32)).astype(np.float32)
    got = ub.trunk_engine(4, 32, head=head)(x)  # 4 blocks at 32 px: a (40, 4, 4) map
    with torch.no_grad():
        maps = ub.torch_trunk(4)(torch.from_numpy(x)).numpy().reshape(3, -1)
    want = np.maximum(maps @ head["W1"].T + head["b1"], 0) @ head["W2"].T + head["b2"]
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert len(list((tmp_path / "onnx").glob("upright-lite0-b4-s32-head-*.onnx"))) == 1
    other = {**head, "b2": head["b2"] + 1}  # another head: another export, not the cached one
    np.testing.assert_allclose(ub.trunk_engine(4, 32, head=other)(x), want + 1, atol=1e-4)
    assert len(list((tmp_path / "onnx").glob("upright-lite0-b4-s32-head-*.onnx"))) == 2


def test_shipped_model_fused_logits_equal_trunk_maps_then_head():
    model = load_upright_model()
    pics = np.random.default_rng(7).integers(0, 256, (5, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(model.logits(pics), model.head_logits(model.maps(pics)), atol=1e-4)


def test_shipped_model_loads_and_is_deterministic():
    model = load_upright_model()
    assert model.arch()["backbone"] == "efficientnet-lite0" and model.meta["val_turn_accuracy"] > 0.25
    pics = [np.random.default_rng(6).integers(0, 256, (64, 64, 3), dtype=np.uint8)]
    np.testing.assert_array_equal(model.turn_log_probs(pics), model.turn_log_probs(pics))


def test_short_training_run_exports_a_loadable_model(tmp_path, monkeypatch):
    monkeypatch.setenv("UNSHUFFLE_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    cfg = UprightTrainConfig(train_dir="<array>", output_dir=str(tmp_path / "run"), size=32, blocks=4, hidden=8,
                             epochs=1, batch=16, threads=1, val_fraction=0.2, export=str(tmp_path / "m.npz"),
                             feature_cache=str(tmp_path / "cache"))
    result = train_upright_model(cfg, images)
    assert result["train_images"] == 19 and result["train_samples"] == 38 and result["val_images"] == 5
    model = load_upright_model(tmp_path / "m.npz")
    assert model.map_shape == (40, 4, 4) and model.meta["steps"] == result["steps"]
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    again = train_upright_model(cfg, images)  # the maps come from the cache; same seed, same head
    assert again["val_turn_accuracy"] == result["val_turn_accuracy"]
    # the held-out accuracy ran through the trained trunk ending in its head, on the configured threads
    assert len(list((tmp_path / "onnx").glob("upright-lite0-b4-s32-head-*.onnx"))) == 1
    assert model._logit_engine is None and model.logits(images[:2].astype(np.float32)).shape == (2, 4)
    with pytest.raises(ConfigError, match="size must be a multiple of 16"):
        UprightTrainConfig(train_dir="x", output_dir="y", size=40).validate()


def test_fit_large_rule_learns_the_landscape_prior_from_wide_photos():
    """Upright photos that are all wide: the fitted rule gives the landscape cue a positive weight."""
    from unshuffle.fragments.learned.upright_training import fit_large_rule

    rng = np.random.default_rng(7)
    photos = [rng.integers(0, 256, (40, 72, 3), dtype=np.uint8) for _ in range(12)]
    rule = fit_large_rule(_large_model(7), [photos], ("landscape",))
    assert rule["cues"]["landscape"] > 0.5 and rule["landscape_share"] == 1.0 and rule["photos"] == 12


def test_fit_large_rule_leaves_out_photos_the_rule_never_sees():
    """Photos with no side of large_side px (32 here) are solved on the small path: left out and counted;
    none large enough is a clear error."""
    from unshuffle.errors import ConfigError
    from unshuffle.fragments.learned.upright_training import fit_large_rule

    rng = np.random.default_rng(8)
    wide = [rng.integers(0, 256, (40, 72, 3), dtype=np.uint8) for _ in range(6)]
    small = [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(3)]
    rule = fit_large_rule(_large_model(8), [wide, small], ("landscape",))
    assert rule["photos"] == 6 and rule["photos_too_small"] == 3
    with pytest.raises(ConfigError, match="side of at least 32 px; none of the 3"):
        fit_large_rule(_large_model(8), [small], ("landscape",))
