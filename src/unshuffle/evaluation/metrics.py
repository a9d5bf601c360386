"""Clustering metrics as pure functions of (labels_true, labels_pred); higher is better for all.

Edge cases (documented values):
- one true cluster predicted as one cluster, or all-singletons predicted as all-singletons: ARI = NMI =
  purity = accuracy = 1.0 (the partitions agree).
- everything in one predicted cluster when the truth has several: ARI = 0.0, NMI = 0.0,
  purity = accuracy = share of the largest true class.
- all singletons predicted when the truth has larger groups: purity = 1.0 (purity rewards
  over-splitting, which is why ARI is the headline number), ARI = 0.0.
- empty input: ValueError.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    adjusted_mutual_info_score,
    adjusted_rand_score,
    normalized_mutual_info_score,
)
from sklearn.metrics.cluster import contingency_matrix


def check_clusterings(labels_true, labels_pred) -> tuple[np.ndarray, np.ndarray]:
    """Validate two labelings: 1-D, same non-zero length, integer-like. Returns int64 arrays."""
    t = np.asarray(labels_true)
    p = np.asarray(labels_pred)
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(f"labelings must be 1-D, got shapes {t.shape} and {p.shape}")
    if t.shape != p.shape:
        raise ValueError(f"labelings differ in length: {t.shape[0]} vs {p.shape[0]}")
    if t.size == 0:
        raise ValueError("labelings are empty")
    return t.astype(np.int64), p.astype(np.int64)


def purity(labels_true, labels_pred) -> float:
    """Share of items whose predicted cluster's majority true class is their own class."""
    t, p = check_clusterings(labels_true, labels_pred)
    c = contingency_matrix(t, p)  # (n_true, n_pred)
    return float(c.max(axis=0).sum() / t.size)


def hungarian_accuracy(labels_true, labels_pred) -> float:
    """Accuracy under the best one-to-one matching of predicted clusters to true classes.

    Clusters left unmatched (more clusters than classes) count as wrong.
    """
    t, p = check_clusterings(labels_true, labels_pred)
    c = contingency_matrix(t, p)
    rows, cols = linear_sum_assignment(c, maximize=True)
    return float(c[rows, cols].sum() / t.size)


def ari(labels_true, labels_pred) -> float:
    """Adjusted Rand index: 1 for identical partitions, about 0 for random ones."""
    t, p = check_clusterings(labels_true, labels_pred)
    return float(adjusted_rand_score(t, p))


def nmi(labels_true, labels_pred) -> float:
    """Normalized mutual information (arithmetic normalisation, as scikit-learn's default)."""
    t, p = check_clusterings(labels_true, labels_pred)
    return float(normalized_mutual_info_score(t, p))


def adjusted_nmi(labels_true, labels_pred) -> float:
    """Adjusted mutual information (chance-corrected NMI)."""
    t, p = check_clusterings(labels_true, labels_pred)
    return float(adjusted_mutual_info_score(t, p))


def grouping_scores(labels_true, labels_pred) -> dict[str, float]:
    """ARI, NMI and purity of one grouping, as a dict."""
    return {"ari": ari(labels_true, labels_pred), "nmi": nmi(labels_true, labels_pred),
            "purity": purity(labels_true, labels_pred)}


def summarize(per_sample: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and (population) std of each metric over samples: {"ari": {"mean": .., "std": ..}, ...}."""
    if not per_sample:
        raise ValueError("no samples to summarise")
    keys = per_sample[0].keys()
    out = {}
    for k in keys:
        v = np.array([s[k] for s in per_sample], dtype=np.float64)
        out[k] = {"mean": float(v.mean()), "std": float(v.std())}
    return out
