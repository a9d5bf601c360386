"""Issue 14 item 2: K estimated without labels (clustering/choose_k.py) on cached features, against the truth.

Cases: a whole set, or a seeded subset of its classes (``name:C`` takes C classes drawn with seed 0;
the class indices are recorded). For each case: the estimate, the criterion plot, its time, the time
of a fixed-K k-means (best of 10), and k-means accuracy with the estimated and with the true K
(labels are read only to score). Writes JSON with the code version and prints a markdown table.

    nice -n 10 python benchmarks/choose_k_measure.py tiny_val:20 tiny_val:50 tiny_val:100 tiny_val cifar_test \
        --out results/clustering/choose_k.json --plots results/clustering/k
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="+")
    p.add_argument("--backbones", nargs="+", default=["efficientnet-lite0"])
    p.add_argument("--feats", default=".cache/exp")
    p.add_argument("--out", required=True)
    p.add_argument("--plots", required=True, help="folder for the criterion plots")
    args = p.parse_args()

    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from clustering_parts import load_input

    from unshuffle.clustering.baseline import kmeans_labels
    from unshuffle.clustering.choose_k import estimate_k, plot_k_evidence
    from unshuffle.evaluation.metrics import hungarian_accuracy
    from unshuffle.runs.measure import code_version

    rows = []
    for case in args.cases:
        name, _, c = case.partition(":")
        x = load_input(Path(args.feats), name, args.backbones, False)
        y = np.load(Path(args.feats) / f"{name}-labels.npy")
        classes = None
        if c:
            classes = np.sort(np.random.default_rng(0).choice(np.unique(y), int(c), replace=False))
            keep = np.isin(y, classes)
            x, y = x[keep], y[keep]
        true_k = len(np.unique(y))
        t0 = time.perf_counter()
        est = estimate_k(x, seed=0)
        t_est = time.perf_counter() - t0
        t0 = time.perf_counter()
        acc_true = hungarian_accuracy(y, kmeans_labels(x, true_k, seed=0, n_init=10))
        t_fixed = time.perf_counter() - t0
        acc_est = hungarian_accuracy(y, kmeans_labels(x, est.k, seed=0, n_init=10))
        plot_k_evidence(est, Path(args.plots) / f"{case.replace(':', '-')}.png", true_k=true_k)
        row = {"case": case, "n": len(x), "true_k": true_k, "k": est.k, "rel_error": (est.k - true_k) / true_k,
               "acc_true_k": acc_true, "acc_est_k": acc_est, "estimate_seconds": round(t_est, 1),
               "kmeans_fixed_k_seconds": round(t_fixed, 1),
               "classes": None if classes is None else classes.tolist(), "evidence": est.to_dict()}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in ("evidence", "classes")}), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"backbones": args.backbones, "code": code_version(), "rows": rows},
                                         indent=1))
    print("| case | N | true K | estimated K | error | k-means ACC, true K | k-means ACC, estimated K | time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['case']} | {r['n']} | {r['true_k']} | {r['k']} | {100 * r['rel_error']:+.0f} % | "
              f"{100 * r['acc_true_k']:.1f} | {100 * r['acc_est_k']:.1f} | {r['estimate_seconds']:.0f} s |")


if __name__ == "__main__":
    main()
