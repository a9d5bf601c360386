"""Pictures of one bag: the shuffled fragments, then each predicted group with wrong pieces marked."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from unshuffle.evaluation.placement import PlacementRecord, TruthRecord

GOOD = np.array([40, 170, 60], dtype=np.uint8)
BAD = np.array([220, 30, 30], dtype=np.uint8)
EMPTY = np.array([235, 235, 235], dtype=np.uint8)


def _framed(frag: np.ndarray, color: np.ndarray | None, pad: int) -> np.ndarray:
    s = frag.shape[0]
    out = np.empty((s + 2 * pad, s + 2 * pad, 3), np.uint8)
    out[:] = EMPTY if color is None else color
    out[pad : pad + s, pad : pad + s] = frag
    return out


def mosaic(cells: list[list[np.ndarray | None]], size: int, pad: int,
           colors: list[list[np.ndarray | None]] | None = None) -> np.ndarray:
    """Tile a 2-D list of (s, s, 3) fragments (None = empty cell) with coloured frames of ``pad`` px."""
    rows, cols = len(cells), max(len(r) for r in cells)
    cell = size + 2 * pad
    out = np.full((rows * cell, cols * cell, 3), 255, np.uint8)
    for r, line in enumerate(cells):
        for c, frag in enumerate(line):
            color = None if colors is None else colors[r][c]
            tile = _framed(frag if frag is not None else np.full((size, size, 3), EMPTY), color, pad)
            out[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = tile
    return out


def group_canvas(bag: TruthRecord, solution: PlacementRecord, g: int, pad: int = 1) -> tuple[np.ndarray, int, int]:
    """Canvas of group ``g``: placed fragments at (row, col) upright, or wrapped when not placed.

    Frames are green for fragments of the group's majority source, red for the others.
    Returns (image, n_fragments, n_wrong).
    """
    idx = np.flatnonzero(solution.group == g)
    src = bag.source[idx]
    major = np.bincount(src).argmax()
    wrong = src != major
    s = bag.fragments.shape[1]
    if solution.placed:
        rows, cols = solution.shapes[g]
        cells: list[list] = [[None] * cols for _ in range(rows)]
        colors: list[list] = [[None] * cols for _ in range(rows)]
        for k, i in enumerate(idx):
            r, c = solution.row[i], solution.col[i]
            cells[r][c] = np.rot90(bag.fragments[i], k=int(solution.turn[i]))
            colors[r][c] = BAD if wrong[k] else GOOD
    else:
        order = idx[np.lexsort((bag.row[idx], wrong))]  # majority first, for a readable layout
        cols = max(1, math.ceil(math.sqrt(len(order))))
        rows = math.ceil(len(order) / cols)
        cells = [[None] * cols for _ in range(rows)]
        colors = [[None] * cols for _ in range(rows)]
        for k, i in enumerate(order):
            cells[k // cols][k % cols] = bag.fragments[i]
            colors[k // cols][k % cols] = BAD if bag.source[i] != major else GOOD
    return mosaic(cells, s, pad, colors), len(idx), int(wrong.sum())


def plot_grouping(bag: TruthRecord, solution: PlacementRecord, save_path: str | Path, title: str = "") -> Path:
    """Draw the shuffled bag, then each predicted group (wrong fragments framed red). Writes a PNG.

    bag: a FragmentBag; solution: a Solution (``Solution.grouping_only(labels)`` for bare labels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unshuffle.plots.figure import save_png

    m, s = len(bag.fragments), bag.fragments.shape[1]
    cols = math.ceil(math.sqrt(m))
    flat = [bag.fragments[i] for i in range(m)]
    bag_cells = [flat[r * cols : (r + 1) * cols] for r in range(math.ceil(m / cols))]
    bag_img = mosaic(bag_cells, s, 1)

    n_groups = solution.n_groups
    gcols = min(5, n_groups)
    grows = math.ceil(n_groups / gcols)
    fig = plt.figure(figsize=(3.0 * gcols + 4.5, max(4.5, 2.8 * grows + 0.8)))
    gs = fig.add_gridspec(grows, gcols + 2)
    ax = fig.add_subplot(gs[:, :2])
    ax.imshow(bag_img, interpolation="nearest")
    ax.set_title(f"shuffled bag: {m} fragments of {s} px", fontsize=10)
    ax.axis("off")
    total_wrong = 0
    for g in range(n_groups):
        canvas, n, n_wrong = group_canvas(bag, solution, g)
        total_wrong += n_wrong
        a = fig.add_subplot(gs[g // gcols, 2 + g % gcols])
        a.imshow(canvas, interpolation="nearest")
        a.set_title(f"group {g}: {n} pieces, {n_wrong} wrong", fontsize=9,
                    color="firebrick" if n_wrong else "black")
        a.axis("off")
    fig.suptitle(f"{title}  (red frame = fragment from another image; {total_wrong} of {m} wrong)".strip(),
                 fontsize=11)
    fig.tight_layout()
    return save_png(fig, save_path, dpi=110)
