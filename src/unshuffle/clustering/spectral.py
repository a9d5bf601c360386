"""Spectral clustering on the kNN graph of L2-normalised features (Ng, Jordan & Weiss 2002).

The graph links each image to its ``knn`` nearest neighbours by cosine similarity (edges made
symmetric). Edge weights are either 1 (``graph="binary"``) or the share of nearest neighbours the two
images have in common (``graph="snn"``, shared nearest neighbours, Jarvis & Patrick 1973), which
weakens edges between images whose neighbourhoods differ. The ``n_clusters`` leading eigenvectors of
the normalised adjacency ``D^-1/2 W D^-1/2`` are turned into labels either by k-means on the
row-normalised vectors (``assign="kmeans"``, best of ``n_init`` restarts) or by the column-pivoted QR
of Damle, Minden & Ying 2019 (``assign="qr"``, no iterations, no restarts). The defaults (SNN weights,
QR, 20 neighbours) were chosen on the CIFAR-10 and Tiny-ImageNet train splits (results/clustering.md).
No labels are read.

Several representation spaces (e.g. Lite0 and Lite2 features of the same images, in the spirit of
TURTLE, Gadetsky et al. 2024, which uses several spaces jointly) are combined by
:func:`joint_knn_graph`: an edge counts fully where every space's kNN graph has it, and with weight
``eps`` per space where only some do (which keeps the graph connected).
"""

from __future__ import annotations

import numpy as np

from unshuffle.errors import ConfigError

GRAPHS = ("snn", "binary")
ASSIGNS = ("qr", "kmeans")
DEFAULT_KNN = 20


def _neighbour_matrix(feats: np.ndarray, knn: int):
    """(N, N) 0/1 CSR: row i marks i itself and its ``knn`` nearest neighbours by cosine similarity."""
    import faiss
    import scipy.sparse as sp

    x = np.asarray(feats, dtype=np.float32)
    x = np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))
    n = x.shape[0]
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    _, found = index.search(x, knn + 1)
    rows = np.repeat(np.arange(n), knn + 1)
    w = sp.csr_matrix((np.ones(rows.size), (rows, found.ravel())), shape=(n, n))
    w.setdiag(1)  # a duplicate image may have pushed i out of its own first place
    return (w > 0).astype(np.float64).tocsr()


def knn_graph(feats: np.ndarray, knn: int):
    """Symmetric 0/1 kNN graph (scipy CSR, (N, N) float64, no self loops) of cosine similarity."""
    w = _neighbour_matrix(feats, knn)
    w.setdiag(0)
    w.eliminate_zeros()
    return ((w + w.T) > 0).astype(np.float64).tocsr()


def snn_graph(feats: np.ndarray, knn: int):
    """The symmetric kNN graph with each edge (i, j) weighted by |N(i) & N(j)| / (knn + 1), where N(i)
    is i and its ``knn`` nearest neighbours (shared nearest neighbours); CSR (N, N), no self loops."""
    member = _neighbour_matrix(feats, knn)
    shared = (member @ member.T).tocsr()
    return knn_graph(feats, knn).multiply(shared).tocsr() / (knn + 1)


def cluster_qr(vectors: np.ndarray) -> np.ndarray:
    """Labels (N,) from the (N, K) leading eigenvectors by column-pivoted QR (Damle, Minden & Ying 2019):
    the pivots pick K rows that are most nearly orthogonal, the polar factor of those rows rotates the
    embedding onto the coordinate axes, and each row goes to its largest coordinate in absolute value."""
    from scipy.linalg import qr, svd

    v = np.asarray(vectors, dtype=np.float64)
    k = v.shape[1]
    _, _, piv = qr(v.T, pivoting=True, mode="economic")
    u, _, vt = svd(v[piv[:k]].T)
    return np.abs(v @ (u @ vt)).argmax(axis=1).astype(np.int64)


def joint_knn_graph(spaces: list[np.ndarray], knn: int, eps: float = 1e-3):
    """kNN graphs of several feature spaces of the same N images, ``[(N, D_i)]``, combined: the
    elementwise product (edges all spaces agree on, weight 1) plus ``eps`` times their sum."""
    graphs = [knn_graph(x, knn) for x in spaces]
    both = graphs[0]
    for g in graphs[1:]:
        both = both.multiply(g)
    return (both + eps * sum(graphs)).tocsr()


def spectral_labels(feats: np.ndarray | list[np.ndarray], n_clusters: int, *, knn: int = DEFAULT_KNN,
                    seed: int = 0, n_init: int = 10, graph: str = "snn", assign: str = "qr") -> np.ndarray:
    """Cluster ``feats`` (N, D) into ``n_clusters`` by spectral clustering on the kNN graph; (N,) int64.
    ``knn`` is capped at N - 1. ``graph``: "snn" or "binary" edge weights; ``assign``: "qr" or "kmeans".
    A list of arrays ``[(N, D_i)]`` is several spaces of the same images, joined by :func:`joint_knn_graph`
    (binary graphs)."""
    import faiss
    from scipy.sparse import diags
    from scipy.sparse.linalg import eigsh

    spaces = [np.asarray(f, dtype=np.float32) for f in (feats if isinstance(feats, list | tuple) else [feats])]
    x = spaces[0]
    if graph not in GRAPHS or assign not in ASSIGNS:
        raise ConfigError(f"spectral clustering: graph must be one of {GRAPHS} and assign one of {ASSIGNS}, "
                          f"got graph={graph!r}, assign={assign!r}")
    knn = min(knn, x.shape[0] - 1)
    if (any(f.ndim != 2 or f.shape[0] != x.shape[0] for f in spaces) or not 2 <= n_clusters < x.shape[0]
            or not 1 <= knn < x.shape[0]):
        raise ConfigError(f"spectral clustering needs (N, D) features (the same N in every space) with "
                          f"2 <= clusters < N and 1 <= knn < N, got {[f.shape for f in spaces]}, "
                          f"clusters={n_clusters}, knn={knn}")
    if len(spaces) > 1:
        w = joint_knn_graph(spaces, knn)
    else:
        w = snn_graph(x, knn) if graph == "snn" else knn_graph(x, knn)
    d = np.asarray(w.sum(axis=1)).ravel()
    inv = diags(1.0 / np.sqrt(np.maximum(d, 1e-12)))
    a = inv @ w @ inv
    v0 = np.random.default_rng(seed).standard_normal(x.shape[0])
    _, vecs = eigsh(a, k=n_clusters, which="LA", tol=1e-8, v0=v0)  # QR needs the exact subspace
    if assign == "qr":
        return cluster_qr(vecs)
    u = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    u = np.ascontiguousarray(u.astype(np.float32))
    km = faiss.Kmeans(n_clusters, n_clusters, niter=100, nredo=n_init, seed=int(seed), verbose=False,
                      max_points_per_centroid=max(256, x.shape[0] // n_clusters + 1),
                      min_points_per_centroid=1)  # only faiss's stderr warning on small sets hangs on it
    km.train(u)
    return km.index.search(u, 1)[1][:, 0].astype(np.int64)
