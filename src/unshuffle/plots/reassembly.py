"""The bench's figure: original images beside each method's reassembled groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
