"""Spectral clustering on the symmetric kNN graph of L2-normalised features (Ng, Jordan & Weiss 2002).

The graph links each image to its ``knn`` nearest neighbours by cosine similarity (edges made
symmetric, weight 1). The ``n_clusters`` leading eigenvectors of the normalised adjacency
``D^-1/2 W D^-1/2`` are row-normalised and clustered by k-means (best of ``n_init`` restarts).
No labels are read. A reference beside k-means and TEMI in the clustering report.

Several representation spaces (e.g. Lite0 and Lite2 features of the same images, in the spirit of
TURTLE, Gadetsky et al. 2024, which uses several spaces jointly) are combined by
:func:`joint_knn_graph`: an edge counts fully where every space's kNN graph has it, and with weight
``eps`` per space where only some do (which keeps the graph connected).
"""

from __future__ import annotations

import numpy as np

from unshuffle.errors import ConfigError


def knn_graph(feats: np.ndarray, knn: int):
    """Symmetric 0/1 kNN graph (scipy CSR, (N, N) float64, no self loops) of cosine similarity."""
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
    w.setdiag(0)
    w.eliminate_zeros()
    return ((w + w.T) > 0).astype(np.float64)


def joint_knn_graph(spaces: list[np.ndarray], knn: int, eps: float = 1e-3):
    """kNN graphs of several feature spaces of the same N images, ``[(N, D_i)]``, combined: the
    elementwise product (edges all spaces agree on, weight 1) plus ``eps`` times their sum."""
    graphs = [knn_graph(x, knn) for x in spaces]
    both = graphs[0]
    for g in graphs[1:]:
        both = both.multiply(g)
    return (both + eps * sum(graphs)).tocsr()


def spectral_labels(feats: np.ndarray | list[np.ndarray], n_clusters: int, *, knn: int = 10, seed: int = 0,
                    n_init: int = 10) -> np.ndarray:
    """Cluster ``feats`` (N, D) into ``n_clusters`` by spectral clustering on the kNN graph; (N,) int64.
    A list of arrays ``[(N, D_i)]`` is several spaces of the same images, joined by :func:`joint_knn_graph`."""
    import faiss
    from scipy.sparse import diags
    from scipy.sparse.linalg import eigsh

    spaces = [np.asarray(f, dtype=np.float32) for f in (feats if isinstance(feats, list | tuple) else [feats])]
    x = spaces[0]
    if (any(f.ndim != 2 or f.shape[0] != x.shape[0] for f in spaces) or not 2 <= n_clusters < x.shape[0]
            or not 1 <= knn < x.shape[0]):
        raise ConfigError(f"spectral clustering needs (N, D) features (the same N in every space) with "
                          f"2 <= clusters < N and 1 <= knn < N, got {[f.shape for f in spaces]}, "
                          f"clusters={n_clusters}, knn={knn}")
    w = knn_graph(x, knn) if len(spaces) == 1 else joint_knn_graph(spaces, knn)
    d = np.asarray(w.sum(axis=1)).ravel()
    inv = diags(1.0 / np.sqrt(np.maximum(d, 1e-12)))
    a = inv @ w @ inv
    v0 = np.random.default_rng(seed).standard_normal(x.shape[0])
    _, vecs = eigsh(a, k=n_clusters, which="LA", tol=1e-4, v0=v0)
    u = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    u = np.ascontiguousarray(u.astype(np.float32))
    km = faiss.Kmeans(n_clusters, n_clusters, niter=100, nredo=n_init, seed=int(seed), verbose=False,
                      max_points_per_centroid=max(256, x.shape[0] // n_clusters + 1))
    km.train(u)
    return km.index.search(u, 1)[1][:, 0].astype(np.int64)
