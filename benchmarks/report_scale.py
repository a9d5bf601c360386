"""Seconds to build `cluster report` for a synthetic run of 100,000 images: first build, then a rebuild.

The run folder is fake (no training): 32x32 images in an uncompressed .npz (memory-mapped, as
`cluster all` would read it), an assignments.csv with K clusters and random confidences, a config.json,
a metrics.jsonl and no report.json (no labels). The first build makes every thumbnail; the rebuild
keeps them and only rewrites the pages. Wall clock and this process's CPU time are both written:
on a shared machine the wall clock includes waiting for a core.

    python benchmarks/report_scale.py --images 100000 --clusters 100 --out results/report-scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from unshuffle.clustering.outputs import write_assignments_csv
from unshuffle.report.cluster_report import build_cluster_report
from unshuffle.runs.measure import code_version


def make_synthetic_run(root: Path, n: int, k: int, side: int = 32, seed: int = 0) -> Path:
    """``root/images.npz`` ((n, side, side, 3) uint8, per-cluster colour plus noise) and ``root/run``."""
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, k, size=n)
    palette = rng.integers(20, 236, size=(k, 3)).astype(np.int16)
    images = np.empty((n, side, side, 3), np.uint8)
    for a in range(0, n, 10_000):  # in chunks: the noise of 100k images at once is 2.5 GB of int16
        b = min(n, a + 10_000)
        noise = rng.integers(-30, 31, size=(b - a, side, side, 3), dtype=np.int16)
        images[a:b] = np.clip(palette[clusters[a:b], None, None, :] + noise, 0, 255)
    np.savez(root / "images.npz", images=images)  # uncompressed: memory-mapped when read
    run = root / "run"
    run.mkdir()
    names = [f"images#{i}" for i in range(n)]
    write_assignments_csv(run / "assignments.csv", names, clusters, rng.beta(5, 2, size=n))
    (run / "config.json").write_text(json.dumps({
        "config": {"temi": {"clusters": k}, "backbone": {"name": "synthetic"},
                   "data": {"path": str(root / "images.npz"), "split": None, "n_images": n}},
        "environment": {"note": "synthetic run of benchmarks/report_scale.py"}}))
    with open(run / "metrics.jsonl", "w") as f:
        for e in range(50):
            f.write(json.dumps({"epoch": e, "loss": float(-np.log1p(e)), "prior_entropy": float(np.log(k))}) + "\n")
    return run


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--clusters", type=int, default=100)
    p.add_argument("--root", default="/tmp/unshuffle-report-scale", help="scratch folder (replaced)")
    p.add_argument("--out", default=None, help="JSON file for the timings")
    args = p.parse_args(argv)
    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    run, make_wall, _ = _timed(lambda: make_synthetic_run(root, args.images, args.clusters))
    first, first_wall, first_cpu = _timed(lambda: build_cluster_report(run))
    again, again_wall, again_cpu = _timed(lambda: build_cluster_report(run))
    thumbs = root / "run" / "report" / "thumbs"
    sizes = [p.stat().st_size for p in thumbs.glob("*.jpg")]
    result = {
        "images": args.images, "clusters": args.clusters, "pages": first["pages"],
        "first_build": {"wall_s": first_wall, "cpu_s": first_cpu, "thumbnails": first["thumbnails"]},
        "rebuild": {"wall_s": again_wall, "cpu_s": again_cpu, "thumbnails": again["thumbnails"]},
        "thumbnail_bytes": {"mean": round(float(np.mean(sizes))), "total_mb": round(sum(sizes) / 2**20, 1)},
        "index_kb": round((root / "run" / "report" / "index.html").stat().st_size / 1024, 1),
        "synthetic_run_s": make_wall, "cpus": os.cpu_count(), "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
        "code": code_version(),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
