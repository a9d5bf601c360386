"""Seeded cutting of images into shuffled grid fragments, with provenance kept for scoring only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unshuffle.data.imageset import ImageSet
from unshuffle.errors import ConfigError


@dataclass(frozen=True)
class FragmentBag:
    """One shuffled bag of fragments cut from ``n_images`` source images.

    Attributes:
        fragments: (M, s, s, 3) uint8, in shuffled order.
        source: (M,) int64 in [0, n_images): which sampled image each fragment came from.
        row, col: (M,) int64 grid position of each fragment in its source image.
        turn: (M,) int64 quarter turns counter-clockwise that put each fragment upright
            (all 0 unless a rotation was applied).
        image_ids: (n_images,) int64 indices of the source images in their ImageSet.
        grid: (rows, cols) of the cutting grid.
    """

    fragments: np.ndarray
    source: np.ndarray
    row: np.ndarray
    col: np.ndarray
    turn: np.ndarray
    image_ids: np.ndarray
    grid: tuple[int, int]

    def __len__(self) -> int:
        return int(self.fragments.shape[0])

    @property
    def n_images(self) -> int:
        return int(self.image_ids.shape[0])

    @property
    def fragment_size(self) -> int:
        return int(self.fragments.shape[1])

    def select(self, keep: np.ndarray) -> FragmentBag:
        """The bag restricted to fragments ``keep`` ((M,) bool mask or (K,) indices)."""
        return FragmentBag(self.fragments[keep], self.source[keep], self.row[keep], self.col[keep],
                           self.turn[keep], self.image_ids, self.grid)


def cut_grid(images: np.ndarray, grid: int) -> np.ndarray:
    """Cut (N, H, W, C) images into a grid x grid of square pieces: (N, grid, grid, s, s, C).

    ``H`` and ``W`` must equal ``grid * s``.
    """
    n, h, w, c = images.shape
    if h != w:
        raise ConfigError(f"images must be square to cut a {grid}x{grid} grid, got {h}x{w}")
    if grid < 1 or h % grid:
        raise ConfigError(f"image size {h} is not divisible by grid={grid}; choose a grid that divides it")
    s = h // grid
    return images.reshape(n, grid, s, grid, s, c).transpose(0, 1, 3, 2, 4, 5)


class FragmentSampler:
    """Draws bags of shuffled fragments from an ImageSet; bag ``i`` is a pure function of (seed, i).

    Parameters:
        images: where the source images come from; only the images a bag uses are read.
        images_per_sample: N, source images per bag (distinct).
        grid: g, each image is cut into g x g square fragments.
        seed: the sampler's seed; bag ``i`` is the same whatever was drawn before it.
    """

    def __init__(self, images: ImageSet, images_per_sample: int = 10, grid: int = 4, seed: int = 0):
        self.images = images
        self.images_per_sample = images_per_sample
        self.grid = grid
        self.seed = seed
        if images_per_sample < 1:
            raise ConfigError(f"images_per_sample must be >= 1, got {images_per_sample}")
        if images_per_sample > len(images):
            raise ConfigError(
                f"images_per_sample={images_per_sample} but {images.source} holds only {len(images)} images"
            )
        if grid < 1:
            raise ConfigError(f"grid must be >= 1, got {grid}")
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        side = images.size or images.image(0).shape[0]
        if side % grid:
            raise ConfigError(
                f"image size {side} is not divisible by grid={grid} ({images.source}); "
                f"use a grid that divides {side}, or resize the images"
            )

    def rng(self, i: int) -> np.random.Generator:
        """The random generator of bag ``i``: depends on (seed, i) only."""
        if i < 0:
            raise ConfigError(f"sample index must be >= 0, got {i}")
        return np.random.default_rng(np.random.SeedSequence([self.seed, int(i)]))

    def sample(self, i: int) -> FragmentBag:
        """Bag ``i``: N distinct images, each cut into g x g fragments, all shuffled together."""
        rng = self.rng(i)
        ids = np.sort(rng.choice(len(self.images), size=self.images_per_sample, replace=False))
        imgs = self.images.images(ids)
        pieces = cut_grid(imgs, self.grid)  # (N, g, g, s, s, 3)
        n, g = len(ids), self.grid
        src, row, col = np.meshgrid(np.arange(n), np.arange(g), np.arange(g), indexing="ij")
        order = rng.permutation(n * g * g)
        flat = pieces.reshape(n * g * g, *pieces.shape[3:])
        return FragmentBag(
            fragments=np.ascontiguousarray(flat[order]),
            source=src.reshape(-1)[order].astype(np.int64),
            row=row.reshape(-1)[order].astype(np.int64),
            col=col.reshape(-1)[order].astype(np.int64),
            turn=np.zeros(n * g * g, dtype=np.int64),
            image_ids=ids.astype(np.int64),
            grid=(g, g),
        )
