"""Shared test fixtures: small synthetic image sets, CPU-only torch with few threads."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def smooth_images() -> np.ndarray:
    """(12, 64, 64, 3) uint8 smooth random images (low-frequency noise), distinct from each other."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, size=(12, 5, 5, 3)).astype(np.float32)
    from scipy.ndimage import zoom

    imgs = zoom(coarse, (1, 64 / 5, 64 / 5, 1), order=3)
    return np.clip(imgs, 0, 255).astype(np.uint8)


COLOUR_GRID_BACKBONE = '''"""Test backbone: mean colour of 4x4 grid cells, (B, 3, 32, 32) -> (B, 48); no weights."""
import pathlib

from torch import nn

{marker_line}


class ColourGrid(nn.Module):
    image_size = 32
    resize_size = 32
    feature_dim = 48

    def forward(self, x):
        return nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)


def make():
    return ColourGrid()
'''


@pytest.fixture
def write_backbone():
    """Writer of an importable custom-backbone module ``FOLDER/MODULE.py`` (factory ``make``); with
    ``marker`` the module writes that file when imported, which proves whether it ran."""

    def write(folder, module: str, marker=None):
        line = f"pathlib.Path({str(marker)!r}).write_text('imported')" if marker is not None else ""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{module}.py"
        path.write_text(COLOUR_GRID_BACKBONE.format(marker_line=line))
        return path

    return write


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors run far faster on one torch thread on a shared machine; the count is restored afterwards.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
