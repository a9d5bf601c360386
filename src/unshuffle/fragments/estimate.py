"""Estimating the grid size and the number of source images of a bag from its confident clusters."""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.placement import Assembler, greedy_merge

# Thresholds on the normalised dissimilarity (d / second best), tuned on Tiny-ImageNet train bags.
GRID_MAX_SCORE = 0.8  # only near-certain best buddies build the clusters whose extent gives the grid
N_MAX_SCORE = 1.0  # merges accepted when counting images
N_MIN_SHARE = 0.25  # a cluster counts as an image when it holds at least this share of g*g cells


def estimate_grid(edges: np.ndarray, n_fragments: int, rotations: bool,
                  max_score: float = GRID_MAX_SCORE) -> tuple[int, int]:
    """Square grid (g, g) from the extents of clusters grown without a frame on confident edges.

    edges: (E, 6) rows (score, fa, ka, fb, kb, rel) sorted by score. Returns (g, g), g >= 1: the
    largest extent reached by at least a quarter of the clusters of 3 or more fragments, weighting
    each cluster by its size (over-merged clusters are rare and small in number).
    """
    asm = Assembler(n_fragments, None, rotations)
    greedy_merge(asm, edges, target=1, max_score=max_score)
    ext, size = [], []
    for cl in asm.clusters.values():
        if len(cl.pos) >= 3:
            rmin, rmax, cmin, cmax = cl.extent()
            ext.append(max(rmax - rmin + 1, cmax - cmin + 1))
            size.append(len(cl.pos))
    if not ext:
        g = max(1, int(round(np.sqrt(n_fragments))))
        return g, g
    ext_a, size_a = np.array(ext), np.array(size, dtype=np.float64)
    for g in sorted(set(ext), reverse=True):
        if size_a[ext_a >= g].sum() >= 0.25 * size_a.sum():
            return int(g), int(g)
    return int(ext_a.min()), int(ext_a.min())


def estimate_n_images(edges: np.ndarray, n_fragments: int, grid: tuple[int, int], rotations: bool,
                      max_score: float = N_MAX_SCORE, min_share: float = N_MIN_SHARE) -> int:
    """Number of images: clusters of at least ``min_share * rows * cols`` fragments after merging
    inside the frame along edges scoring at most ``max_score``; at least 1, and at least enough
    frames to hold every fragment."""
    asm = Assembler(n_fragments, grid, rotations)
    greedy_merge(asm, edges, target=1, max_score=max_score)
    cells = grid[0] * grid[1]
    big = sum(1 for cl in asm.clusters.values() if len(cl.pos) >= min_share * cells)
    return max(1, big, int(np.ceil(n_fragments / cells)))
