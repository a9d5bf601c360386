"""Estimating the grid size and the number of source images of a bag from its confident clusters."""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.loops import merge_loops
from unshuffle.fragments.solver.placement import Assembler

FRAME_MAX_ASPECT = 4.0  # a frame from the piece count is at most this elongated (unless a cluster forces it)
CORE_SHARE = 0.95  # a cluster's core extent holds this share of its cells along each axis
N_MIN_SHARE = 0.25  # a cluster counts as an image when it holds at least this share of the g*g cells
GRID_MIN_SUPPORT = 0.2  # share of the multi-piece clusters that must reach the estimated extent


def estimate_grid(loops: np.ndarray, loop_score: np.ndarray, owner: np.ndarray, turn: np.ndarray,
                  n_fragments: int, rotations: bool, max_score: float) -> tuple[int, int]:
    """Square grid (g, g) from the extents of clusters grown, without a frame, from 2x2 loops only.

    loops: (L, 4) piece ids (a, b, c, d) sorted by ``loop_score`` (L,); owner, turn: (P,) fragment
    and quarter turn of each piece. Loops are rarely wrong, so their clusters stay inside one image
    and their extents are lower bounds of the grid; g is the largest extent reached by at least
    ``GRID_MIN_SUPPORT`` of the clusters of 4 or more fragments (at least one). Without any loop,
    g = round(sqrt(M)) (one square image).
    """
    asm = Assembler(n_fragments, None, rotations)
    merge_loops(asm, loops, loop_score, owner, turn, target=1, max_score=max_score)
    ext = []
    for cl in asm.clusters.values():
        if len(cl.pos) >= 4:
            rmin, rmax, cmin, cmax = cl.extent()
            ext.append(max(rmax - rmin + 1, cmax - cmin + 1))
    if not ext:
        g = max(1, int(round(np.sqrt(n_fragments))))
        return g, g
    ext_a = np.array(ext)
    need = max(1.0, GRID_MIN_SUPPORT * ext_a.size)
    for g in sorted(set(ext), reverse=True):
        if (ext_a >= g).sum() >= need:
            return int(g), int(g)
    return int(ext_a.max()), int(ext_a.max())


def frame_from_count(cells: int, extent: tuple[int, int]) -> tuple[int, int]:
    """Frame (rows, cols) of an image of ``cells`` pieces (dimensions not given) that holds a cluster
    of extent (h, w), the largest one assembled without a frame: the first of ``frame_candidates``."""
    return frame_candidates(cells, extent)[0]


def frame_candidates(cells: int, extent: tuple[int, int]) -> list[tuple[int, int]]:
    """Frames (rows, cols) of an image of ``cells`` pieces that hold a cluster of extent (h, w), best first.

    Candidates are the factor pairs rows * cols = cells at most ``FRAME_MAX_ASPECT`` elongated that
    hold the cluster as it lies, ordered by how close their aspect is to the cluster's (in log
    ratio), the squarer one first on ties (a small cluster says little). When no factor pair holds it (a
    prime count, missing pieces, or a cluster grown too far), the smallest frame of at least
    ``cells`` cells that holds it, alone. A turned cluster is laid so that h <= w when the caller
    allows turned frames.
    """
    h, w = max(1, int(extent[0])), max(1, int(extent[1]))
    cells = max(int(cells), h * w, 1)
    aspect = np.log(h / w)

    def key(rc: tuple[int, int]) -> tuple[float, float]:
        return abs(np.log(rc[0] / rc[1]) - aspect), abs(np.log(rc[0] / rc[1]))

    pairs = [(r, cells // r) for r in range(1, cells + 1) if cells % r == 0]
    fit = [(r, c) for r, c in pairs if r >= h and c >= w and max(r, c) <= FRAME_MAX_ASPECT * min(r, c)]
    if fit:
        return sorted(fit, key=key)
    wider = [(r, max(w, -(-cells // r))) for r in range(h, cells + 1)]
    least = min(r * c for r, c in wider)
    return [min((rc for rc in wider if rc[0] * rc[1] == least), key=key)]


def core_extent(cells: list[tuple[int, int]], share: float = CORE_SHARE) -> tuple[int, int]:
    """(rows, cols) of a cluster's core: along each axis the shortest run of rows (columns) holding
    at least ``share`` of its cells, so that a thin arm grown by a wrong merge does not stretch it."""
    rc = np.array(cells, np.int64).reshape(-1, 2)
    out = []
    for axis in (0, 1):
        counts = np.bincount(rc[:, axis] - rc[:, axis].min())
        need = share * rc.shape[0]
        csum = np.concatenate([[0], np.cumsum(counts)])
        best = counts.size
        for lo in range(counts.size):  # shortest window [lo, hi) with enough cells
            hi = int(np.searchsorted(csum, csum[lo] + need - 1e-9))
            if hi <= counts.size:
                best = min(best, hi - lo)
        out.append(max(1, best))
    return out[0], out[1]


def count_images(sizes: list[int], n_fragments: int, grid: tuple[int, int],
                 min_share: float = N_MIN_SHARE) -> int:
    """Number of images: clusters holding at least ``min_share * rows * cols`` fragments, at least
    1 and at least enough frames to hold every fragment. sizes: fragments per cluster."""
    cells = grid[0] * grid[1]
    big = sum(1 for s in sizes if s >= min_share * cells)
    return max(1, big, int(np.ceil(n_fragments / cells)))
