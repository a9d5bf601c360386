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
