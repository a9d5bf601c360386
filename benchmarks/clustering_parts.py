"""Issue 14: k-means vs spectral clustering on the kNN graph vs kNN accuracy on cached features, per input.

Reads ``FEATS/<set>-<backbone>[-mirror].npy`` and ``FEATS/<set>-labels.npy`` written by
``benchmarks/clustering_features.py``. The input is the L2-normalised concatenation of the backbones'
L2-normalised features (optionally flip-averaged); k-means (faiss, L2-normalised, best of 10
restarts) and spectral clustering see exactly that input. ``--subsets S`` also scores S seeded,
disjoint 1,000-image subsets. Writes JSON (with the code version) and prints a markdown table.

    nice -n 10 python benchmarks/clustering_parts.py cifar_test 10 --backbones efficientnet-lite0 \
        --seeds 0 1 2 --subsets 3 --out results/clustering/cifar_test-lite0.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def load_spaces(feats_dir: Path, name: str, backbones: list[str], flip: bool) -> list[np.ndarray]:
    """Each backbone's L2-normalised (optionally flip-averaged) features: the parts of :func:`load_input`."""
    return [load_input(feats_dir, name, [b], flip) for b in backbones]


def load_input(feats_dir: Path, name: str, backbones: list[str], flip: bool, whiten: int = 0) -> np.ndarray:
    """L2-normalised concatenation of each backbone's L2-normalised (optionally flip-averaged) features;
    ``whiten > 0``: then PCA-whitened to that many dimensions (seed 0) and L2-normalised again."""
    from unshuffle.features.transforms import flip_average

    parts = []
    for b in backbones:
        f = np.load(feats_dir / f"{name}-{b}.npy")
        if flip:
            f = flip_average(f, np.load(feats_dir / f"{name}-{b}-mirror.npy"))
        parts.append(f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12))
    x = np.concatenate(parts, axis=1)
    if whiten:
        from sklearn.decomposition import PCA

        x = PCA(whiten, whiten=True, random_state=0).fit_transform(x / np.linalg.norm(x, axis=1, keepdims=True))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# the spectral parts measured one at a time: (graph weights, label assignment); "spectral" is the default
SPECTRAL_PARTS = {"spectral": ("snn", "qr"), "spectral_binary_kmeans": ("binary", "kmeans"),
                  "spectral_snn_kmeans": ("snn", "kmeans"), "spectral_binary_qr": ("binary", "qr")}


def score(x: np.ndarray, y: np.ndarray, k: int, seeds: list[int], spaces: list[np.ndarray] | None = None,
          parts: bool = False) -> dict:
    """Accuracy (and NMI, ARI) of k-means and spectral per seed, kNN accuracy once, with times;
    with ``spaces`` (the per-backbone parts of ``x``) also spectral on their joint kNN graph; with ``parts``
    also the other spectral variants of ``SPECTRAL_PARTS`` (the old default was binary + k-means)."""
    from unshuffle.clustering.baseline import kmeans_labels
    from unshuffle.clustering.spectral import DEFAULT_KNN, spectral_labels
    from unshuffle.evaluation.knn import knn_loo_accuracy
    from unshuffle.evaluation.metrics import grouping_scores, hungarian_accuracy

    knn = min(DEFAULT_KNN, len(x) - 1)
    out = {"n": len(x), "k": k, "spectral_knn": knn, "kmeans": [], "spectral": []}
    methods = ("kmeans", "spectral")
    if parts:
        methods += tuple(m for m in SPECTRAL_PARTS if m != "spectral")
        out.update({m: [] for m in SPECTRAL_PARTS})
    if spaces:
        methods += ("spectral_joint",)
        out["spectral_joint"] = []
    for s in seeds:
        for name in methods:
            t0 = time.perf_counter()
            if name == "kmeans":
                lab = kmeans_labels(x, k, seed=s, n_init=10)
            elif name == "spectral_joint":
                lab = spectral_labels(spaces, k, knn=knn, seed=s)
            else:
                g, a = SPECTRAL_PARTS[name]
                lab = spectral_labels(x, k, knn=knn, seed=s, graph=g, assign=a)
            wall = time.perf_counter() - t0
            out[name].append({"seed": s, "acc": hungarian_accuracy(y, lab), **grouping_scores(y, lab),
                              "seconds": round(wall, 2)})
    t0 = time.perf_counter()
    out["knn_acc"] = knn_loo_accuracy(x, y, k=20)
    out["knn_seconds"] = round(time.perf_counter() - t0, 2)
    return out


def _ms(rows: list[dict], key: str = "acc") -> str:
    v = 100 * np.array([r[key] for r in rows])
    return f"{v.mean():.1f} ± {v.std():.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("set")
    p.add_argument("clusters", type=int)
    p.add_argument("--backbones", nargs="+", default=["efficientnet-lite0"])
    p.add_argument("--flip", action="store_true")
    p.add_argument("--whiten", type=int, default=0, help="PCA-whiten to this many dimensions (0: off)")
    p.add_argument("--joint", action="store_true", help="also spectral on the joint kNN graph of the backbones")
    p.add_argument("--parts", action="store_true", help="also each spectral variant (graph weights x assignment)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--subsets", type=int, default=0, help="also S seeded, disjoint 1,000-image subsets")
    p.add_argument("--feats", default=".cache/exp")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    from unshuffle.runs.measure import code_version

    x = load_input(Path(args.feats), args.set, args.backbones, args.flip, args.whiten)
    y = np.load(Path(args.feats) / f"{args.set}-labels.npy")
    spaces = load_spaces(Path(args.feats), args.set, args.backbones, args.flip) if args.joint else None
    res = {"set": args.set, "backbones": args.backbones, "flip": args.flip, "whiten": args.whiten,
           "dim": int(x.shape[1]),
           "code": code_version(), "full": score(x, y, args.clusters, args.seeds, spaces, args.parts), "subsets": []}
    perm = np.random.default_rng(2026).permutation(len(x))
    for i in range(args.subsets):
        idx = np.sort(perm[1000 * i: 1000 * (i + 1)])
        res["subsets"].append({"subset": i, "indices_first": idx[:5].tolist(),
                               **score(x[idx], y[idx], args.clusters, args.seeds,
                                        None if spaces is None else [f[idx] for f in spaces], args.parts)})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    tag = "+".join(b.replace("efficientnet-", "") for b in args.backbones) + (" +flip" if args.flip else "") + (
        f" +PCA-whiten {args.whiten}" if args.whiten else "")
    print("| set | input | rows | k-means | spectral (SNN + QR) | binary + k-means | SNN + k-means | binary + QR "
          "| spectral, joint graph | kNN acc |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, r in [("full", res["full"])] + [(f"subset {s['subset']}", s) for s in res["subsets"]]:
        cols = [_ms(r[m]) if r.get(m) else "" for m in [*SPECTRAL_PARTS, "spectral_joint"]]
        print(f"| {args.set} | {tag} | {label} (N={r['n']}) | {_ms(r['kmeans'])} | {' | '.join(cols)} | "
              f"{100 * r['knn_acc']:.1f} |")


if __name__ == "__main__":
    main()
