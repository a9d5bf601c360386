"""`unshuffle fragments train-upright` trains, exports a loadable model, and `solve --upright-model` reads it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from unshuffle.cli.main import main
from unshuffle.fragments.learned.upright_model import load_upright_model


def test_train_upright_exports_a_model(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(data / f"{i}.png")
    out = tmp_path / "m.npz"
    rc = main(["fragments", "train-upright", str(data), "--out", str(tmp_path / "run"), "--export", str(out),
               "--steps", "2", "--batch", "4", "--image-size", "32", "--threads", "1"])
    assert rc in (0, None)
    model = load_upright_model(out)
    assert model.meta["steps"] == 2 and model.size == 32
