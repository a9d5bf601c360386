"""Saving a matplotlib figure as a PNG atomically (temporary file, fsync, rename), then closing it."""

from __future__ import annotations

from pathlib import Path


def save_png(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` as PNG without ever leaving a torn file; close the figure."""
    import matplotlib.pyplot as plt

    from unshuffle.runs.atomic import atomic_path

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return path
