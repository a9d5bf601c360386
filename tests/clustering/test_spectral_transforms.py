"""Spectral clustering on the kNN graph and the flip transforms, on hand-checkable cases."""

import numpy as np
import pytest

from unshuffle.clustering.baseline import kmeans_labels
from unshuffle.clustering.spectral import cluster_qr, joint_knn_graph, knn_graph, snn_graph, spectral_labels
from unshuffle.data.imageset import from_array
from unshuffle.errors import ConfigError
from unshuffle.evaluation.metrics import hungarian_accuracy
from unshuffle.features.transforms import flip_average, mirrored


def rings(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric rings lifted to z = 1 (distinct after L2): k-means cannot split them, a kNN graph can."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, 2 * n)
    r = np.r_[np.full(n, 0.3), np.full(n, 1.0)] + 0.01 * rng.standard_normal(2 * n)
    x = np.c_[r * np.cos(t), r * np.sin(t), np.ones(2 * n)].astype(np.float32)
    return x, np.r_[np.zeros(n), np.ones(n)].astype(int)


def test_knn_graph_is_symmetric_without_self_loops():
    x = np.array([[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99]], dtype=np.float32)
    w = knn_graph(x, 1).toarray()
    assert (w == w.T).all() and np.diag(w).sum() == 0
    assert w[0, 1] == 1 and w[2, 3] == 1 and w[0, 2] == 0


@pytest.mark.parametrize("graph", ["snn", "binary"])
@pytest.mark.parametrize("assign", ["qr", "kmeans"])
def test_spectral_separates_rings_that_kmeans_cannot(graph, assign):
    x, y = rings()
    assert hungarian_accuracy(y, spectral_labels(x, 2, knn=8, seed=0, graph=graph, assign=assign)) == 1.0
    assert hungarian_accuracy(y, kmeans_labels(x, 2, seed=0)) < 0.8


def test_snn_weights_count_shared_neighbours():
    # on a line, 1 neighbour each: N(0)={0,1}, N(1)={1,0}, N(2)={2,3}, N(3)={3,2}, N(4)={4,3}
    x = np.array([[1, 0], [0.99, 0.14], [0.6, 0.8], [0.55, 0.835], [0.4, 0.92]], dtype=np.float32)
    w = snn_graph(x, 1).toarray()
    assert w[0, 1] == pytest.approx(1.0)  # {0,1} & {1,0}: 2 shared of knn + 1 = 2
    assert w[2, 3] == pytest.approx(1.0)
    assert w[3, 4] == pytest.approx(0.5)  # {3,2} & {4,3}: only 3
    assert w[1, 2] == 0 and (w == w.T).all() and np.diag(w).sum() == 0


def test_cluster_qr_recovers_blocks_from_any_rotation_of_their_indicators():
    y = np.repeat([0, 1, 2], [5, 3, 4])
    ind = np.eye(3)[y] / np.sqrt(np.bincount(y))[y][:, None]  # orthonormal cluster indicators
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))
    labels = cluster_qr(ind @ q)
    assert hungarian_accuracy(y, labels) == 1.0


def test_spectral_refuses_unknown_graph_or_assignment():
    x, _ = rings(20)
    with pytest.raises(ConfigError, match="graph"):
        spectral_labels(x, 2, graph="dense")
    with pytest.raises(ConfigError, match="assign"):
        spectral_labels(x, 2, assign="discretize")


def test_mirror_flips_left_right_and_changes_the_fingerprint():
    imgs = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)
    base = from_array(imgs, labels=np.array([0, 1]))
    m = mirrored(base)
    assert np.array_equal(m.image(0), imgs[0][:, ::-1]) and np.array_equal(m.image(1)[:, 0], imgs[1][:, 2])
    assert m.fingerprint() != base.fingerprint() and list(m.labels) == [0, 1]


def test_flip_average_is_the_mean_of_unit_vectors():
    a = np.array([[3.0, 0.0]], dtype=np.float32)
    b = np.array([[0.0, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(flip_average(a, b), [[0.5, 0.5]])


def test_joint_graph_keeps_agreed_edges_at_full_weight():
    a = np.array([[1, 0], [0.99, 0.1], [0.9, 0.3], [0, 1]], dtype=np.float32)  # kNN edges 0-1, 1-2, 2-3
    b = np.array([[1, 0], [0.98, 0.2], [0, 1], [0.2, 0.98]], dtype=np.float32)  # kNN edges 0-1, 2-3
    w = joint_knn_graph([a, b], 1, eps=0.01).toarray()
    assert w[0, 1] == pytest.approx(1.02) and w[2, 3] == pytest.approx(1.02)  # both spaces: 1 plus eps per space
    assert w[1, 2] == pytest.approx(0.01)  # one space only
    assert w[0, 3] == 0
    assert (w == w.T).all() and np.diag(w).sum() == 0


def test_spectral_on_two_spaces_and_bad_shapes():
    x, y = rings()
    assert hungarian_accuracy(y, spectral_labels([x, x + 0.001], 2, knn=8)) == 1.0
    with pytest.raises(ConfigError, match="same N"):
        spectral_labels([x, x[:10]], 2)


@pytest.mark.parametrize("perm_seed", [0, 1])
def test_spectral_partition_does_not_depend_on_the_order_of_the_images(perm_seed):
    """Six overlapping blobs (an imperfect partition): the images in another order get the same partition."""
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(6), 50)
    x = (rng.standard_normal((6, 8)) * 1.2)[y] + rng.standard_normal((300, 8))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    base = spectral_labels(x, 6)
    assert 0.6 < hungarian_accuracy(y, base) < 1.0  # a hard case, not a trivially separable one
    p = np.random.default_rng(perm_seed).permutation(300)
    moved = np.empty_like(base)
    moved[p] = spectral_labels(x[p], 6)
    assert hungarian_accuracy(base, moved) == 1.0  # the same partition (up to label names)
