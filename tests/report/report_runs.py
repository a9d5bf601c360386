"""Synthetic clustering run folders for the report tests: images on disk, a run's files, no training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from unshuffle.clustering.outputs import write_assignments_csv
from unshuffle.evaluation.report import build_report

# file names a hostile or careless user may have (no '/': that separates folders): markup, quotes,
# ampersands and entities, a long unbroken name, non-ASCII
HOSTILE_NAMES = [
    "<script>alert(1)<script>.png",
    "a\"b'c&d &amp; &lt;e&gt;.png",
    "<img src=x onerror=alert(2)>.png",
    "x" * 150 + ".png",
    "naïve café ✓.png",
]


def make_run(root: Path, *, n: int = 60, k: int = 4, names: list[str] | None = None, labelled: bool = True,
             report: bool = True, seed: int = 0) -> Path:
    """A run folder ``root/run`` over ``n`` coloured 40x30 images in ``root/images`` (one file per
    image, ``names`` first, then ``img_NNN.png``), assigned to ``k`` clusters by colour.

    Writes config.json, assignments.csv, metrics.jsonl and (with ``report``) report.json, scored
    against the colour classes when ``labelled``. Returns the run folder.
    """
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True)
    names = list(names or [])
    names += [f"img_{i:03d}.png" for i in range(len(names), n)]
    hues = rng.integers(0, k, size=n)
    palette = rng.integers(30, 226, size=(k, 3))
    for name, h in zip(names, hues, strict=True):
        px = np.clip(palette[h] + rng.integers(-25, 26, size=(30, 40, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(px).save(images / name)
    from unshuffle.data import open_images

    order = list(open_images(images).names)  # the run's image order is the data's
    by_name = dict(zip(names, hues, strict=True))
    clusters = np.array([by_name[x] for x in order], dtype=np.int64)
    confidence = rng.uniform(0.05, 1.0, size=n)
    run = root / "run"
    run.mkdir()
    write_assignments_csv(run / "assignments.csv", order, clusters, confidence)
    (run / "config.json").write_text(json.dumps({
        "config": {"temi": {"clusters": k, "seed": seed, "head": {"n_heads": 2}},
                   "backbone": {"name": "colour-grid", "dim": 48},
                   "data": {"path": str(images), "split": None, "n_images": n}},
        "environment": {"unshuffle": "test", "python": "3"}}))
    with open(run / "metrics.jsonl", "w") as f:
        for e in range(6):
            f.write(json.dumps({"epoch": e, "loss": -0.1 * e + rng.normal(0, 0.01),
                                "prior_entropy": np.log(k) - 0.01 * e}) + "\n")
    if report:
        rep = build_report({"temi": clusters, "kmeans": rng.permutation(clusters)}, k,
                           clusters.copy() if labelled else None)
        (run / "report.json").write_text(json.dumps(rep))
    return run
