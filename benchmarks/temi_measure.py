"""Issue 5 measurements: TEMI (label-free head) vs k-means vs kNN over seeds on cached features.

Features come from the shared feature cache (extracted once), neighbours are mined once, then each
seed is one ``train_temi`` + ``evaluate_run`` (the library calls behind ``unshuffle cluster all``).
Writes ``<out>/seed<S>/`` run folders and ``<out>/summary.json``; prints a markdown table row.

    nice -n 10 python benchmarks/temi_measure.py /work/shared/data/tiny-imagenet-200/val.tar.gz \
        --clusters 200 --preset cpu --seeds 0 1 2 --out runs/temi/tiny-cpu
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--clusters", type=int, required=True)
    p.add_argument("--backbone", default="efficientnet-lite0")
    p.add_argument("--split", default=None)
    p.add_argument("--preset", default="cpu")
    p.add_argument("--set", dest="overrides", nargs="*", default=[])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", required=True)
    p.add_argument("--cache-dir", default=".cache/features")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from unshuffle.clustering.config import load_config, neighbours_for
    from unshuffle.clustering.neighbors import mine_neighbors
    from unshuffle.clustering.pipeline import evaluate_run, features_for, run_record
    from unshuffle.clustering.train import train_temi
    from unshuffle.evaluation.metrics import summarize

    t0 = time.perf_counter()
    images, feats, spec = features_for(args.data, args.backbone, split=args.split, cache_dir=args.cache_dir,
                                    progress=True)
    t_feat = time.perf_counter() - t0
    base = load_config(None, [*args.overrides, f"clusters={args.clusters}"], preset=args.preset)
    t0 = time.perf_counter()
    nbrs = mine_neighbors(feats, neighbours_for(base.knn, len(feats), base.clusters), progress=False)
    t_nn = time.perf_counter() - t0
    rows = []
    for seed in args.seeds:
        cfg = load_config(None, [*args.overrides, f"clusters={args.clusters}", f"seed={seed}"], preset=args.preset)
        run = Path(args.out) / f"seed{seed}"
        t0 = time.perf_counter()
        summary = train_temi(cfg, feats, nbrs, run, overwrite=True,
                             record=run_record(args.data, args.split, args.cache_dir, spec, images))
        wall = time.perf_counter() - t0
        report = evaluate_run(run, images=images, feats=feats, plots=(seed == args.seeds[0]))
        rows.append({"seed": seed, "train_wall_seconds": wall, "train": summary, "report": report})
        m = report["methods"]
        print(f"seed {seed}: temi {m['temi']['scores']['accuracy']:.4f} kmeans {m['kmeans']['scores']['accuracy']:.4f} "
              f"knn {report['knn_loo_accuracy']:.4f} wall {wall:.0f}s", flush=True)

    def agg(method: str) -> dict:
        return summarize([r["report"]["methods"][method]["scores"] for r in rows])

    out = {
        "data": args.data, "backbone": spec.to_dict(), "preset": args.preset, "overrides": args.overrides,
        "n_images": len(images), "clusters": args.clusters, "threads": torch.get_num_threads(),
        "feature_seconds": t_feat, "neighbour_seconds": t_nn,
        "temi": agg("temi"), "kmeans": agg("kmeans"),
        "knn_loo_accuracy": rows[0]["report"].get("knn_loo_accuracy"),
        "train_wall_seconds": summarize([{"s": r["train_wall_seconds"]} for r in rows])["s"],
        "seconds_per_epoch": summarize([{"s": r["train"]["seconds_per_epoch"]} for r in rows])["s"],
        "occupied": [r["report"]["methods"]["temi"]["stats"]["occupied"] for r in rows],
        "oracle_best_head_accuracy": [r["report"].get("diagnostics", {}).get("best_head_accuracy") for r in rows],
        "runs": [{"seed": r["seed"], "train": r["train"], "scores": {k: v.get("scores") for k, v in
                                                                     r["report"]["methods"].items()}} for r in rows],
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(out, indent=2) + "\n")
    t, k = out["temi"], out["kmeans"]
    print(f"| {Path(args.data).name} | {args.preset} "
          f"| {100 * t['accuracy']['mean']:.1f} ± {100 * t['accuracy']['std']:.1f} "
          f"| {100 * k['accuracy']['mean']:.1f} ± {100 * k['accuracy']['std']:.1f} "
          f"| {100 * out['knn_loo_accuracy']:.1f} "
          f"| {t['nmi']['mean']:.3f} | {t['ari']['mean']:.3f} | {out['seconds_per_epoch']['mean']:.1f} |")


if __name__ == "__main__":
    main()
