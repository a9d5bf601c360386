"""k-means on a small collection is quiet: faiss's "please provide at least N training points" stays off stderr."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.clustering.baseline import kmeans_labels
from unshuffle.clustering.spectral import spectral_labels


@pytest.mark.parametrize("cluster", [lambda x: kmeans_labels(x, 4, n_init=2),
                                     lambda x: spectral_labels(x, 4, knn=8, assign="kmeans", n_init=2)])
def test_small_kmeans_is_quiet_and_still_finds_the_blobs(capfd, cluster):
    rng = np.random.default_rng(0)
    centres = np.eye(16, dtype=np.float32)[:4] * 10  # 4 far-apart blobs of 9 points: 36 < 39 x 4
    x = np.repeat(centres, 9, axis=0) + rng.standard_normal((36, 16)).astype(np.float32) * 0.1
    labels = cluster(x)
    truth = np.repeat(np.arange(4), 9)
    assert all(len(np.unique(labels[truth == c])) == 1 for c in range(4)) and len(np.unique(labels)) == 4
    out, err = capfd.readouterr()  # the C++ library writes straight to the file descriptor
    assert "WARNING clustering" not in err and "training points" not in err
