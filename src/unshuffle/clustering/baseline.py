"""k-means on the same cached features as TEMI, the baseline of the clustering report (faiss)."""

from __future__ import annotations

import numpy as np

from unshuffle.errors import ConfigError


def kmeans_labels(feats: np.ndarray, n_clusters: int, *, seed: int = 0, n_init: int = 3, n_iter: int = 100,
                  l2_normalize: bool = True) -> np.ndarray:
    """Cluster ``feats`` (N, D) float32 into ``n_clusters`` with k-means; returns (N,) int64 labels.

    Rows are L2-normalised first by default (pretrained embeddings are compared by angle); the best
    of ``n_init`` restarts by inertia is kept (faiss ``nredo``), so no labels are involved.
    """
    x = np.ascontiguousarray(np.asarray(feats, dtype=np.float32))
    if x.ndim != 2 or x.shape[0] < n_clusters:
        raise ConfigError(f"k-means needs (N, D) features with N >= clusters={n_clusters}, got {x.shape}")
    if n_clusters < 2:
        raise ConfigError(f"clusters must be >= 2, got {n_clusters}")
    if l2_normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    import faiss

    km = faiss.Kmeans(x.shape[1], n_clusters, niter=n_iter, nredo=n_init, seed=int(seed), verbose=False,
                      max_points_per_centroid=max(256, x.shape[0] // n_clusters + 1),
                      min_points_per_centroid=1)  # only faiss's stderr warning on small sets hangs on it
    km.train(x)
    _, assign = km.index.search(x, 1)
    return assign[:, 0].astype(np.int64)
