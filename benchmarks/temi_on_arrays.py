"""Issue 14: TEMI heads (``train_temi``, a preset) on a cached feature input of benchmarks/clustering_parts.py.

The input is the same L2-normalised (concatenated, optionally flip-averaged) array that k-means and
spectral clustering see there; neighbours are mined on it with the ``knn=0`` auto rule. Prints and
writes accuracy of the label-free choice per seed (labels only score it), with the training time.

    nice -n 10 python benchmarks/temi_on_arrays.py cifar_test 10 --backbones efficientnet-lite0 efficientnet-lite2 \
        --seeds 0 --out runs/issue14/temi-cifar_test-l02
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("set")
    p.add_argument("clusters", type=int)
    p.add_argument("--backbones", nargs="+", default=["efficientnet-lite0"])
    p.add_argument("--flip", action="store_true")
    p.add_argument("--preset", default="cpu")
    p.add_argument("--set-option", dest="overrides", nargs="*", default=[])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--feats", default=".cache/exp")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).parent))
    from clustering_parts import load_input

    from unshuffle.clustering.config import load_config, neighbours_for
    from unshuffle.clustering.neighbors import mine_neighbors
    from unshuffle.clustering.train import load_assignments, train_temi
    from unshuffle.evaluation.metrics import grouping_scores, hungarian_accuracy
    from unshuffle.runs.measure import code_version

    x = load_input(Path(args.feats), args.set, args.backbones, args.flip)
    y = np.load(Path(args.feats) / f"{args.set}-labels.npy")
    rows = []
    for seed in args.seeds:
        cfg = load_config(None, [*args.overrides, f"clusters={args.clusters}", f"seed={seed}"], preset=args.preset)
        nbrs = mine_neighbors(x, neighbours_for(cfg.knn, len(x), cfg.clusters), progress=False)
        run = Path(args.out) / f"seed{seed}"
        t0 = time.perf_counter()
        train_temi(cfg, x, nbrs, run, overwrite=True, record={"input": {"set": args.set, "backbones": args.backbones,
                                                                          "flip": args.flip}})
        wall = time.perf_counter() - t0
        clusters, _ = load_assignments(run)
        row = {"seed": seed, "acc": hungarian_accuracy(y, clusters), **grouping_scores(y, clusters),
               "train_seconds": round(wall, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"set": args.set, "backbones": args.backbones, "flip": args.flip, "preset": args.preset,
           "overrides": args.overrides, "code": code_version(), "rows": rows}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
