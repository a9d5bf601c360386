"""Self-supervised training pairs for the edge pair model: adjacent crops of unlabeled images, damaged.

The cutting itself is the supervision: two crops of ``s`` px side by side in one image are a true
(left, right) pair, every other crop in the batch is a negative. Each batch is one damage setting
(as in a real bag, where every fragment went through the same scanner), drawn at random: Gaussian
noise, JPEG re-compression, eroded borders (a 2 px gap between neighbours), or clean. Images are
turned and mirrored at random (the 8 symmetries of the square) so one model serves every side.
A batch is a pure function of ``(seed, step)``, so training resumes exactly and ranks split cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from unshuffle.fragments.bags.damage import add_noise, jpeg_roundtrip


@dataclass(frozen=True)
class DamageMix:
    """Probabilities of each damage in a training batch (independent draws, combinable)."""

    noise: float = 0.35        # Gaussian noise with sigma ~ U(noise_low, noise_high)
    noise_low: float = 2.0
    noise_high: float = 14.0
    jpeg: float = 0.35         # JPEG at quality ~ U{jpeg_low..95}
    jpeg_low: int = 50
    eroded: float = 0.3        # crop 1 px per side (gap flag 1)


def draw_batch(images: np.ndarray, step: int, *, seed: int = 0, images_per_batch: int = 64,
               pairs_per_image: int = 4, size: int = 16, mix: DamageMix = DamageMix()) -> dict:
    """One batch of (left, right) fragment pairs, a pure function of ``(seed, step)``.

    images: (N, H, W, 3) uint8 pool (H, W >= size, W >= 2 * size... after a random turn both sides
    must allow two crops side by side, so min(H, W) >= 2 * size). Returns {"left", "right":
    (B, 3, s', s') float32 in [0, 1] with s' = size or size - 2 when eroded, "gap": 0. or 1.}.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(step), 40503]))
    pick = rng.choice(images.shape[0], images_per_batch, replace=images.shape[0] < images_per_batch)
    lefts, rights = [], []
    for idx in pick:
        img = images[idx]
        t = int(rng.integers(8))
        img = np.rot90(img, t % 4)
        if t >= 4:
            img = img[:, ::-1]
        h, w = img.shape[:2]
        ys = rng.integers(0, h - size + 1, pairs_per_image)
        xs = rng.integers(0, w - 2 * size + 1, pairs_per_image)
        for y, x in zip(ys, xs, strict=True):
            lefts.append(img[y:y + size, x:x + size])
            rights.append(img[y:y + size, x + size:x + 2 * size])
    both = np.ascontiguousarray(np.stack(lefts + rights))
    gap = 0.0
    if rng.random() < mix.eroded:
        both = np.ascontiguousarray(both[:, 1:-1, 1:-1])
        gap = 1.0
    if rng.random() < mix.noise:
        sigma = rng.uniform(mix.noise_low, mix.noise_high)
        both = add_noise(both, rng.standard_normal(both.shape, dtype=np.float32) * np.float32(sigma))
    if rng.random() < mix.jpeg:
        both = jpeg_roundtrip(both, int(rng.integers(mix.jpeg_low, 96)))
    x = torch.from_numpy(both).permute(0, 3, 1, 2).float().div_(255.0)
    b = len(lefts)
    return {"left": x[:b], "right": x[b:], "gap": gap}


class PairBatches(Dataset):
    """Item ``i`` is the whole batch of step ``offset + i`` (use with ``batch_size=None``)."""

    def __init__(self, images: np.ndarray, length: int, offset: int = 0, skip_batches: int = 0,
                 seed: int = 0, **batch_kwargs):
        self.images = images
        self.length = length
        self.offset = offset
        self.skip_batches = skip_batches  # read once by ResumableLoader after a mid-epoch restore
        self.seed = seed
        self.batch_kwargs = batch_kwargs

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        return draw_batch(self.images, self.offset + int(i), seed=self.seed, **self.batch_kwargs)
