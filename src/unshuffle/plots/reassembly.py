"""Reassembled groups as images (numpy) and the bench's originals-beside-reassemblies figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unshuffle.fragments.solution import Solution

EMPTY_GREY = 128  # value of the pixels of an empty cell


def assemble_group(fragments: np.ndarray, solution: Solution, group: int, gap: int = 0) -> np.ndarray:
    """The canvas of one group: each fragment turned upright (``np.rot90(f, k=turn)``) in its cell.

    fragments: (M, s, s, 3) uint8, the bag the solution is for. Empty cells are grey. A solution
    that only groups (not placed) is tiled in fragment order into a near-square sheet instead.
    ``gap`` grey pixels separate the cells. Returns (R*(s+gap)-gap, C*(s+gap)-gap, 3) uint8.
    """
    members = np.flatnonzero(solution.group == group)
    s = fragments.shape[1]
    if solution.placed:
        rows, cols = solution.shapes[group]
        cells = [(int(solution.row[i]), int(solution.col[i])) for i in members]
        turns = solution.turn[members]
    else:
        cols = max(1, int(np.ceil(np.sqrt(len(members)))))
        rows = max(1, int(np.ceil(len(members) / cols)))
        cells = [divmod(k, cols) for k in range(len(members))]
        turns = np.zeros(len(members), dtype=np.int64)
    step = s + gap
    canvas = np.full((rows * step - gap, cols * step - gap, 3), EMPTY_GREY, dtype=np.uint8)
    for i, (r, c), t in zip(members, cells, turns, strict=True):
        canvas[r * step : r * step + s, c * step : c * step + s] = np.rot90(fragments[i], k=int(t))
    return canvas


def best_group_per_source(source: np.ndarray, group: np.ndarray, n_sources: int) -> list[int | None]:
    """For each source image, the group holding most of its fragments (None when it has none).

    source, group: (M,) int64. Used only to lay out figures (evaluation side, truth is known).
    """
    out: list[int | None] = []
    for k in range(n_sources):
        g = group[source == k]
        out.append(None if g.size == 0 else int(np.bincount(g).argmax()))
    return out


def reassembly_figure(originals: np.ndarray, rows: dict[str, list[np.ndarray | None]], path: str | Path,
                      title: str = "", max_columns: int = 10) -> Path:
    """Save a PNG: the original images on top, one row of reassemblies per method below.

    originals: (N, H, W, 3) uint8; rows: method name -> per original, its reassembled group (any
    (h, w, 3) uint8 image) or None when no group holds it. At most ``max_columns`` images are shown.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unshuffle.plots.figure import save_png

    n = min(len(originals), max_columns)
    n_rows = 1 + len(rows)
    fig, axes = plt.subplots(n_rows, n, figsize=(1.3 * n + 1.2, 1.45 * n_rows + 0.4), squeeze=False)
    labels = ["originals", *rows]
    images = [list(originals[:n]), *[r[:n] for r in rows.values()]]
    for r, (label, row) in enumerate(zip(labels, images, strict=True)):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            img = row[c] if c < len(row) else None
            if img is None:
                ax.text(0.5, 0.5, "none", ha="center", va="center", fontsize=7)
            else:
                ax.imshow(img, interpolation="nearest")
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)
