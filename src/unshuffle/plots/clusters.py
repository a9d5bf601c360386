"""Cluster pictures: a gallery of sample images per cluster, and the cluster-size histogram (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unshuffle.data.imageset import ImageSet
from unshuffle.plots.figure import save_png


def cluster_gallery(images: ImageSet, clusters: np.ndarray, out: str | Path, *, confidence: np.ndarray | None = None,
                    n_clusters_shown: int = 12, per_cluster: int = 8, thumb: int = 64, seed: int = 0,
                    title: str = "") -> Path:
    """One row per cluster (the largest ``n_clusters_shown``), ``per_cluster`` images each.

    Args:
        images: the clustered ImageSet; clusters: (N,) int64; confidence: (N,) float32 or None. With
        confidence the most confident members are shown, otherwise a seeded random sample.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unshuffle.data.imageset import center_crop_resize

    clusters = np.asarray(clusters, dtype=np.int64)
    if clusters.shape != (len(images),):
        raise ValueError(f"clusters must be ({len(images)},), got {clusters.shape}")
    rng = np.random.default_rng(seed)
    ids, sizes = np.unique(clusters, return_counts=True)
    shown = ids[np.argsort(-sizes, kind="stable")][:n_clusters_shown]
    fig, axes = plt.subplots(len(shown), per_cluster, figsize=(per_cluster * 1.1, len(shown) * 1.2 + 0.4),
                             squeeze=False)
    for row, c in enumerate(shown):
        members = np.flatnonzero(clusters == c)
        if confidence is not None:
            members = members[np.argsort(-np.asarray(confidence)[members], kind="stable")]
        else:
            members = rng.permutation(members)
        for col in range(per_cluster):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(members):
                ax.imshow(center_crop_resize(images.image(int(members[col])), thumb))
        axes[row, 0].set_ylabel(f"#{c}\n(n={int((clusters == c).sum())})", rotation=0, ha="right", va="center",
                                fontsize=8)
    fig.suptitle(title or f"largest {len(shown)} clusters, most confident members first", fontsize=10)
    fig.tight_layout()
    return save_png(fig, out, dpi=90)


def cluster_size_plot(clusters: np.ndarray, n_clusters: int, out: str | Path, title: str = "") -> Path:
    """Bar chart of cluster sizes, largest first, each bar labelled with its cluster id (the ids of the
    gallery, assignments.csv and the exported folders), with the uniform size as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.bincount(np.asarray(clusters, dtype=np.int64), minlength=n_clusters)
    ids = np.argsort(-counts, kind="stable")
    fig, ax = plt.subplots(figsize=(max(8, n_clusters * 0.25), 3))
    ax.bar(np.arange(len(ids)), counts[ids], width=0.9, color="C0")
    ax.axhline(len(clusters) / n_clusters, color="C3", ls="--", label="uniform")
    if len(ids) <= 60:
        ax.set_xticks(np.arange(len(ids)), [f"#{c}" for c in ids], fontsize=7, rotation=90 if len(ids) > 20 else 0)
    else:
        ax.set_xticks([])
    ax.set(xlabel="cluster id (largest first)", ylabel="images", title=title or "cluster sizes")
    ax.legend()
    fig.tight_layout()
    return save_png(fig, out, dpi=100)
