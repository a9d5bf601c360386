"""Issue 5: seconds per epoch of TEMI at the default settings on cached Tiny-ImageNet features (2 epochs).

    nice -n 10 python benchmarks/temi_default_speed.py --threads 1

Writes runs/temi/default-speed/ (a normal run folder) and runs/temi/default-speed.json (wall seconds
per epoch from metrics.jsonl, process CPU seconds for the whole train_temi call).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

TINY_FEATURES = "/work/main/.cache/features/efficientnet-lite0-all-4212255240c3170f"


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--features", default=TINY_FEATURES, help="a feature cache entry folder")
    p.add_argument("--out", default="runs/temi/default-speed")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from unshuffle.clustering.config import load_config, neighbours_for
    from unshuffle.clustering.neighbors import mine_neighbors
    from unshuffle.clustering.train import train_temi
    from unshuffle.features.cache import load_features
    from unshuffle.runs.layout import RunDir

    feats, _ = load_features(args.features)
    cfg = load_config(overrides=["clusters=200", "optim.epochs=2", "optim.warmup_epochs=1",
                                 "loss.teacher_temp_warmup_epochs=1", "accelerator=cpu"])
    nbrs = mine_neighbors(feats, neighbours_for(cfg.knn, len(feats), cfg.clusters), progress=False)
    c0, w0 = _cpu_seconds(), time.perf_counter()
    train_temi(cfg, feats, nbrs, args.out, overwrite=True)
    c1, w1 = _cpu_seconds(), time.perf_counter()
    hist = RunDir(Path(args.out)).read_metrics()
    res = {"threads": torch.get_num_threads(), "epochs": len(hist),
           "wall_seconds_per_epoch": [h["seconds"] for h in hist], "cpu_seconds_total": c1 - c0,
           "wall_total": w1 - w0, "config": cfg.to_dict()}
    print(json.dumps(res))
    Path(args.out).with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
