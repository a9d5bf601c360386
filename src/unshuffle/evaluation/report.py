"""Clustering report: Hungarian accuracy, NMI, adjusted NMI, ARI and cluster statistics -> table and JSON.

Higher is better for every score. Numbers that need labels to choose something (an oracle pick of
a head or checkpoint) go under ``diagnostics`` and are printed as such, never as results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unshuffle.evaluation.metrics import adjusted_nmi, ari, hungarian_accuracy, nmi
from unshuffle.runs.atomic import atomic_write_json


def cluster_stats(clusters: np.ndarray, n_clusters: int) -> dict:
    """Occupancy of ``clusters`` (N,) int64 over ``n_clusters`` clusters (no labels needed)."""
    c = np.asarray(clusters, dtype=np.int64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"clusters must be a non-empty 1-D array, got shape {c.shape}")
    if c.min() < 0 or c.max() >= n_clusters:
        raise ValueError(f"cluster ids must lie in [0, {n_clusters}), got [{c.min()}, {c.max()}]")
    sizes = np.bincount(c, minlength=n_clusters)
    occupied = int((sizes > 0).sum())
    nonempty = sizes[sizes > 0]
    return {
        "n_clusters": int(n_clusters),
        "occupied": occupied,
        "empty": int(n_clusters - occupied),
        "occupancy": occupied / n_clusters,
        "largest": int(sizes.max()),
        "smallest_nonempty": int(nonempty.min()),
        "median_size": float(np.median(nonempty)),
        "expected_size": c.size / n_clusters,
        "sizes": [int(s) for s in sizes],
    }


def clustering_scores(labels_true: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """Hungarian accuracy, NMI, adjusted NMI and ARI of one clustering against the true labels."""
    return {"accuracy": hungarian_accuracy(labels_true, clusters), "nmi": nmi(labels_true, clusters),
            "adjusted_nmi": adjusted_nmi(labels_true, clusters), "ari": ari(labels_true, clusters)}


def build_report(clusterings: dict[str, np.ndarray], n_clusters: int, labels: np.ndarray | None = None, *,
                 knn_accuracy: float | None = None, diagnostics: dict | None = None,
                 info: dict | None = None) -> dict:
    """One report for several methods on the same images.

    Args:
        clusterings: method name -> (N,) int64 cluster ids (e.g. ``{"temi": ..., "kmeans": ...}``).
        labels: (N,) int64 true classes, or None (then only the cluster statistics are filled in).
        knn_accuracy: leave-one-out kNN accuracy (a supervised reference), if computed.
        diagnostics: label-informed extras (oracle choices); stored under ``diagnostics``.
    """
    methods = {}
    for name, clusters in clusterings.items():
        entry = {"stats": cluster_stats(clusters, n_clusters)}
        if labels is not None:
            entry["scores"] = clustering_scores(labels, clusters)
        methods[name] = entry
    report = {"n_images": int(len(next(iter(clusterings.values())))), "n_clusters": int(n_clusters),
              "labelled": labels is not None, "methods": methods}
    if labels is not None:
        report["n_classes"] = int(len(np.unique(labels)))
    if knn_accuracy is not None:
        report["knn_loo_accuracy"] = float(knn_accuracy)
    if diagnostics:
        report["diagnostics"] = {"note": "chosen with labels: oracle numbers, not results", **diagnostics}
    if info:
        report["info"] = info
    return report


def format_table(report: dict) -> str:
    """The report as a fixed-width text table (one row per method) plus reference lines."""
    head = f"{'method':<10} {'acc':>7} {'nmi':>7} {'anmi':>7} {'ari':>7} {'occupied':>10} {'largest':>8}"
    lines = [head, "-" * len(head)]
    for name, m in report["methods"].items():
        s, st = m.get("scores"), m["stats"]
        nums = ("  ".join(f"{s[k]:6.4f}" for k in ("accuracy", "nmi", "adjusted_nmi", "ari"))
                if s else "     -       -       -       -")
        lines.append(f"{name:<10} {nums:>31}  {st['occupied']:>5}/{st['n_clusters']:<4} {st['largest']:>8}")
    if "knn_loo_accuracy" in report:
        lines.append(f"kNN (k=20, leave-one-out, supervised reference): accuracy {report['knn_loo_accuracy']:.4f}")
    for key, value in report.get("diagnostics", {}).items():
        if key != "note":
            lines.append(f"DIAGNOSTIC (oracle, uses labels) {key}: {value}")
    if not report["labelled"]:
        lines.append("no labels: scores not computed")
    return "\n".join(lines)


def write_report(report: dict, path: str | Path) -> None:
    """Write ``report`` as indented JSON, atomically."""
    atomic_write_json(path, report)


def evaluate_clusterings(clusterings: dict[str, np.ndarray], n_clusters: int, labels: np.ndarray | None,
                         feats: np.ndarray, *, head_clusters: np.ndarray | None = None,
                         info: dict | None = None) -> dict:
    """The report of several clusterings of the same images, with every label-based number in one place.

    feats: (N, D) float32 features, for the leave-one-out kNN accuracy (a supervised reference);
    head_clusters: (H, N) int64 cluster ids of each head of a multi-head model, scored per head as
    oracle diagnostics (never used to choose). Without ``labels`` only cluster statistics are filled in.
    """
    from unshuffle.evaluation.knn import knn_loo_accuracy

    knn_acc, diagnostics = None, None
    if labels is not None:
        knn_acc = knn_loo_accuracy(feats, labels, k=min(20, len(labels) - 1))
        if head_clusters is not None:
            per_head = [hungarian_accuracy(labels, h) for h in head_clusters]
            diagnostics = {"best_head_by_accuracy": int(np.argmax(per_head)),
                           "best_head_accuracy": float(max(per_head)),
                           "per_head_accuracy": [round(a, 4) for a in per_head]}
    return build_report(clusterings, n_clusters, labels, knn_accuracy=knn_acc, diagnostics=diagnostics, info=info)
