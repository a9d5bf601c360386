"""`unshuffle fragments train-upright` trains, exports a loadable model, and `solve --upright-model` reads it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from unshuffle.cli.main import main
from unshuffle.fragments.learned.upright_model import load_upright_model


def test_train_upright_exports_a_model(tmp_path, monkeypatch):
    monkeypatch.setenv("UNSHUFFLE_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(data / f"{i}.png")
    out = tmp_path / "m.npz"
    rc = main(["fragments", "train-upright", str(data), "--out", str(tmp_path / "run"), "--export", str(out),
               "--epochs", "1", "--batch", "4", "--image-size", "32", "--size", "32", "--blocks", "4",
               "--hidden", "8", "--threads", "1", "--feature-cache", str(tmp_path / "maps")])
    assert rc in (0, None)
    model = load_upright_model(out)
    assert model.meta["train_images"] == 11 and model.size == 32 and model.map_shape == (40, 4, 4)
    assert list((tmp_path / "maps").glob("upright-maps-*.npy"))


def test_train_upright_from_head_fits_only_the_rule(tmp_path):
    """--from-head keeps the shipped head's arrays and adds a rule fitted on the given upright photos."""
    import skimage.data

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee", "rocket", "astronaut"):
        Image.fromarray(getattr(skimage.data, name)()[::2, ::2]).save(photos / f"{name}.png")
    out = tmp_path / "rule.npz"
    rc = main(["fragments", "train-upright", "-", "--from-head", str(_shipped()), "--rule-photos", str(photos),
               "--out", str(tmp_path / "run"), "--export", str(out)])
    assert rc in (0, None)
    model, shipped = load_upright_model(out), load_upright_model()
    assert model.large_size == 128 and model.large_rule["photos"] == 3
    assert set(model.large_rule["cues"]) == {"brightness", "blue", "texture", "landscape"}
    for k, v in shipped.arrays.items():
        np.testing.assert_array_equal(model.arrays[k], v)
    assert model.meta["rule_fit"]["from_head"] == str(_shipped())


def _shipped():
    from importlib import resources

    return resources.files("unshuffle.assets").joinpath("upright_model.npz")
