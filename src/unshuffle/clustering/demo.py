"""`unshuffle cluster demo`: TEMI end to end on scikit-learn's bundled digits, offline, scored against k-means."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

DEMO_EPOCHS = 20


def digits_demo(out: str | Path = "results/cluster-demo", *, backbone: str = "efficientnet-lite0",
                preset: str = "cpu", size: int = 64, overwrite: bool = True, progress: bool = False,
                overrides: list[str] | None = None) -> dict:
    """Cluster the 1,797 digits into 10 clusters with TEMI on offline backbone features (the ``cpu``
    preset shortened to ``DEMO_EPOCHS`` epochs so the demo takes a few minutes on 2 cores).

    Writes ``out/digits.npz`` (the upscaled images, with their labels for the evaluation only),
    the run folder ``out/run`` (assignments.csv, report.json, plots/{gallery,sizes,curves}.png) and
    the feature cache ``out/cache``. Returns {"report", "train", "seconds", "run"}.
    """
    from unshuffle.clustering.config import load_config
    from unshuffle.clustering.pipeline import cluster_all
    from unshuffle.data.embedded import digits_images
    from unshuffle.runs.atomic import atomic_path

    out = Path(out)
    start = time.perf_counter()
    images, labels = digits_images(size)
    data = out / "digits.npz"
    with atomic_path(data) as tmp, open(tmp, "wb") as f:
        np.savez(f, images=images, labels=labels)  # labels are read by evaluation/ only
    cfg = load_config(None, ["clusters=10", f"optim.epochs={DEMO_EPOCHS}", *(overrides or [])], preset=preset)
    result = cluster_all(data, cfg, out / "run", backbone=backbone, cache_dir=out / "cache",
                         overwrite=overwrite, progress=progress)
    return {**result, "seconds": round(time.perf_counter() - start, 1), "run": str(out / "run")}
