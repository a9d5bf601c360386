"""Fixtures of the CLI tests: folders of images in colour classes, with a tiny backbone module on the path."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def colour_classes(tmp_path, monkeypatch, write_backbone):
    """make(module, per_class, side) -> a folder of red-ish, green-ish and blue-ish noisy images in three
    class folders, with the tiny test backbone written as ``module`` and importable."""

    def make(module: str, per_class: int, side: int):
        write_backbone(tmp_path / "mods", module)
        monkeypatch.syspath_prepend(str(tmp_path / "mods"))
        rng = np.random.default_rng(0)
        root = tmp_path / "imgs"
        for c, name in enumerate(["red", "green", "blue"]):
            (root / name).mkdir(parents=True)
            for i in range(per_class):
                img = rng.integers(0, 90, size=(side, side, 3))
                img[..., c] += 150
                Image.fromarray(img.astype(np.uint8)).save(root / name / f"{i:02d}.png")
        return root

    return make
