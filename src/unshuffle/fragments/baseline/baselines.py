"""Reference groupers every method is compared against: random assignment and raw-pixel KMeans."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans


def random_assignment(n_fragments: int, n_clusters: int, seed: int = 0) -> np.ndarray:
    """(M,) int64 cluster ids drawn uniformly at random: the chance level of every metric."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_clusters, size=n_fragments).astype(np.int64)


def raw_pixel_kmeans(fragments: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """KMeans (k = n_clusters) on flattened raw pixels scaled to [0, 1].

    fragments: (M, s, s, 3) uint8. Returns (M,) int64 cluster ids.
    """
    x = fragments.reshape(len(fragments), -1).astype(np.float32) / 255.0
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    return km.fit_predict(x).astype(np.int64)
