"""Pure vectorised functions scoring how well two fragment edges touch (MGC, prediction, best buddies).

Conventions used throughout the solver:

- A *relation* is "j sits directly to the right of i" (``RIGHT``) or "j sits directly below i"
  (``DOWN``). The other two sides are the same relations with the roles swapped.
- Every measure here is a sum of per-pixel Mahalanobis terms, so it factorises into a query vector
  of ``i`` and a key vector of ``j``: ``D(i, j) = query[i] . key[j]``. Scoring all pairs is then one
  matrix product, which can be done in chunks and cut to the top-k candidates per edge for large bags
  (see ``candidates.py``).
- ``"mgc"`` is Gallagher's Mahalanobis Gradient Compatibility (CVPR 2012): the step across the
  boundary is compared with the distribution of gradients at the edge of each fragment (mean and
  3x3 colour covariance), in both directions. ``"prediction"`` extrapolates each boundary pixel by its
  own gradient (Pomeranz et al. 2011) and measures the miss with the same covariance. ``"combined"``
  is their sum. All are computed in CIE-LAB.
"""

from __future__ import annotations

import numpy as np

RIGHT, DOWN = 0, 1
MEASURES = ("mgc", "prediction", "combined")

# D65 white point and sRGB -> XYZ matrix (IEC 61966-2-1), as used by skimage.color.rgb2lab.
_RGB2XYZ = np.array([[0.412453, 0.357580, 0.180423],
                     [0.212671, 0.715160, 0.072169],
                     [0.019334, 0.119193, 0.950227]])
_WHITE = np.array([0.95047, 1.0, 1.08883])
_V = np.arange(256) / 255.0
_SRGB_LINEAR = np.where(_V > 0.04045, ((_V + 0.055) / 1.055) ** 2.4, _V / 12.92).astype(np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE-LAB (D65) of sRGB pixels. rgb: (..., 3) uint8. Returns (..., 3) float32, L in [0, 100]."""
    lin = _SRGB_LINEAR[rgb]
    xyz = (lin @ _RGB2XYZ.T.astype(np.float32)) / _WHITE.astype(np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def _inv_cov(g: np.ndarray, eps: float) -> np.ndarray:
    """Regularised inverse covariance of gradients. g: (E, s, 3) float64. Returns (E, 3, 3)."""
    d = g - g.mean(axis=1, keepdims=True)
    cov = np.einsum("epa,epb->eab", d, d) / max(g.shape[1] - 1, 1)
    cov += eps * np.eye(3)
    return np.linalg.inv(cov)


def _quadratic(target: np.ndarray, metric: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factorise ``sum_p (y_j(p) - c_i(p))^T A_i (y_j(p) - c_i(p))`` as ``query[i] . key[j]``.

    target c: (E, s, 3) expected pixels of edge i; metric A: (E, 3, 3) symmetric; observed y:
    (E, s, 3) actual pixels of edge j. Returns query, key: (E, 3s + 10) float64.
    """
    e = target.shape[0]
    ac = np.einsum("eab,epb->epa", metric, target)  # (E, s, 3)
    const = np.einsum("epa,epa->e", target, ac)
    query = np.concatenate([metric.reshape(e, 9), -2.0 * ac.reshape(e, -1), const[:, None]], axis=1)
    yy = np.einsum("epa,epb->eab", observed, observed).reshape(e, 9)
    key = np.concatenate([yy, observed.reshape(e, -1), np.ones((e, 1))], axis=1)
    return query, key


def edge_features(lab: np.ndarray, measure: str = "mgc", eps: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Query/key vectors of the RIGHT relation: ``D(i, j) = query[i] . key[j]`` (j right of i).

    lab: (M, h, w, 3) float fragments in LAB (w >= 2). For the DOWN relation pass the fragments
    transposed (``lab.transpose(0, 2, 1, 3)``). Returns query, key: (M, F) float64.
    ``eps`` is added to the diagonal of each gradient covariance (LAB units squared), which keeps
    flat edges from producing huge weights.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    x = lab.astype(np.float64)
    x = x - x.mean(axis=(0, 1, 2))  # the measures are shift-invariant; centring helps float32 scoring
    last, prev = x[:, :, -1], x[:, :, -2]  # i's right edge (M, h, 3)
    first, nxt = x[:, :, 0], x[:, :, 1]  # j's left edge
    gi = last - prev  # gradients leaving i to the right
    gj = first - nxt  # gradients leaving j to the left
    ai, aj = _inv_cov(gi, eps), _inv_cov(gj, eps)
    parts_q, parts_k = [], []
    if measure in ("mgc", "combined"):
        # j's first column should equal i's last column plus i's mean gradient, and vice versa.
        q1, k1 = _quadratic(last + gi.mean(axis=1, keepdims=True), ai, first)
        k2, q2 = _quadratic(first + gj.mean(axis=1, keepdims=True), aj, last)
        parts_q += [q1, q2]
        parts_k += [k1, k2]
    if measure in ("prediction", "combined"):
        q3, k3 = _quadratic(last + gi, ai, first)
        k4, q4 = _quadratic(first + gj, aj, last)
        parts_q += [q3, q4]
        parts_k += [k3, k4]
    return np.concatenate(parts_q, axis=1), np.concatenate(parts_k, axis=1)


def relation_features(fragments: np.ndarray, measure: str = "mgc", eps: float = 1.0
                      ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Query/key vectors for RIGHT and DOWN. fragments: (M, s, s, 3) uint8. Returns [(q, k), (q, k)]."""
    lab = rgb_to_lab(fragments)
    return [edge_features(lab, measure, eps), edge_features(lab.transpose(0, 2, 1, 3), measure, eps)]


def pair_scale(query: np.ndarray, key: np.ndarray, seed: int = 0, sample: int = 512) -> float:
    """Median dissimilarity (clipped at 0) of up to ``sample`` x ``sample`` random ordered pairs.

    Used to put two measures on one scale before adding them; a fixed seed keeps it deterministic.
    """
    rng = np.random.default_rng(seed)
    n = query.shape[0]
    a = rng.choice(n, min(n, sample), replace=False)
    b = rng.choice(n, min(n, sample), replace=False)
    d = np.maximum(query[a] @ key[b].T, 0.0)
    return float(max(np.median(d), 1e-12))


def combine_features(parts: list[tuple[np.ndarray, np.ndarray, float]], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Query/key of ``sum_m weight_m * D_m / scale_m`` for parts [(query_m, key_m, weight_m), ...].

    Each measure is divided by its median over random pairs (``pair_scale``), so the weights say how
    much each counts whatever its units; the sum still factorises as one dot product.
    """
    qs, ks = [], []
    for q, k, w in parts:
        qs.append(q * (w / pair_scale(q, k, seed)))
        ks.append(k)
    return np.concatenate(qs, axis=1), np.concatenate(ks, axis=1)


def dissimilarity(query: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Dense dissimilarity of every ordered pair: (M, F) x (M, F) -> (M, M), clipped at >= 0.

    The diagonal (a fragment against itself) is set to +inf.
    """
    d = np.maximum(query @ key.T, 0.0)
    np.fill_diagonal(d, np.inf)
    return d


def mgc_reference(a: np.ndarray, b: np.ndarray, eps: float = 1.0) -> float:
    """Slow direct MGC of ``b`` placed right of ``a`` (Gallagher 2012, eqs. 1-3), for tests.

    a, b: (h, w, 3) float LAB fragments.
    """
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    total = 0.0
    for left, right, sign in ((a, b, 1), (b, a, -1)):
        if sign == 1:
            edge, inner, other = left[:, -1], left[:, -2], right[:, 0]
        else:
            edge, inner, other = left[:, 0], left[:, 1], right[:, -1]
        grad = edge - inner
        mu = grad.mean(axis=0)
        cov = np.cov(grad.T) + eps * np.eye(3) if grad.shape[0] > 1 else eps * np.eye(3)
        inv = np.linalg.inv(cov)
        for p in range(grad.shape[0]):
            d = (other[p] - edge[p]) - mu
            total += float(d @ inv @ d)
    return total


def second_smallest(d: np.ndarray, axis: int) -> np.ndarray:
    """Second-smallest value along ``axis`` of (M, M) float; +inf where fewer than two values."""
    if d.shape[axis] < 2:
        return np.full(d.shape[1 - axis], np.inf)
    return np.partition(d, 1, axis=axis).take(1, axis=axis)


def normalized(d: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Dissimilarity divided by the second-best of its row and of its column (Paikin & Tal 2015).

    d: (M, M) float (inf on excluded pairs). Returns (M, M): below 1 only for a pair that is the
    best match on both sides with a margin; a best buddy scores ``best / second_best``.
    """
    row = second_smallest(d, 1)[:, None]
    col = second_smallest(d, 0)[None, :]
    ref = np.minimum(row, col)
    return d / np.maximum(ref, floor)


def best_buddies(d: np.ndarray) -> np.ndarray:
    """Mutual best matches of one relation. d: (M, M). Returns (B, 2) int64 pairs (i, j)."""
    if d.shape[0] < 2:
        return np.zeros((0, 2), np.int64)
    best_j = np.argmin(d, axis=1)
    best_i = np.argmin(d, axis=0)
    i = np.arange(d.shape[0])
    ok = (best_i[best_j] == i) & np.isfinite(d[i, best_j])
    return np.stack([i[ok], best_j[ok]], axis=1).astype(np.int64)
