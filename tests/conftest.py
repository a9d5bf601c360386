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
