"""Issue 14: extract and cache backbone features (and their mirrors) of the clustering benchmark sets.

Each set is a whole split or a seeded random subset of one (the train subsets are for choosing
settings; Tiny-ImageNet val and CIFAR-10 test are the reported sets). Features go through the feature
cache (ONNX Runtime, one intra-op thread per process) and are also saved as ``OUT/<set>-<backbone>[-mirror].npy``
with ``OUT/<set>-labels.npy`` (labels are read only by the evaluation scripts) and the time per job
in ``OUT/timings.jsonl``.

    nice -n 10 python benchmarks/clustering_features.py --sets cifar_test tiny_val \
        --backbones efficientnet-lite0 --mirror --out .cache/exp
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

DATA = Path("/work/shared/data")
# name -> (path, subset size or None for all, subset seed)
SETS = {
    "cifar_test": (DATA / "cifar10/test.tar.gz", None, 0),
    "tiny_val": (DATA / "tiny-imagenet-200/val.tar.gz", None, 0),
    "cifar_train5k": (DATA / "cifar10/train.tar.gz", 5000, 0),
    "tiny_train10k": (DATA / "tiny-imagenet-200/train.tar.gz", 10000, 0),
}


def open_set(name: str):
    """(ImageSet, indices into the split or None) of benchmark set ``name``."""
    import numpy as np

    from unshuffle.data import open_images

    path, size, seed = SETS[name]
    images = open_images(path)
    if size is None:
        return images, None
    idx = np.sort(np.random.default_rng(seed).choice(len(images), size, replace=False))
    return images.subset(idx), idx


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", choices=sorted(SETS), required=True)
    p.add_argument("--backbones", nargs="+", default=["efficientnet-lite0"])
    p.add_argument("--mirror", action="store_true", help="also the left-right mirrored images (flip TTA)")
    p.add_argument("--only-mirror", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache-dir", default=".cache/features")
    p.add_argument("--out", default=".cache/exp")
    args = p.parse_args()

    import numpy as np

    import unshuffle.features.onnx_runtime as ort_mod
    from unshuffle.features.cache import cached_features
    from unshuffle.features.transforms import mirrored

    ort_mod.onnx_engine = functools.partial(ort_mod.onnx_engine, threads=args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for backbone in args.backbones:
        for name in args.sets:
            images, idx = open_set(name)
            np.save(out / f"{name}-labels.npy", images.labels)
            if idx is not None:
                np.save(out / f"{name}-indices.npy", idx)
            views = [] if args.only_mirror else [("", images)]
            if args.mirror or args.only_mirror:
                views.append(("-mirror", mirrored(images)))
            for tag, view in views:
                t0 = time.perf_counter()
                feats = cached_features(view, backbone, args.cache_dir, onnx=True, progress=False)
                wall = time.perf_counter() - t0
                np.save(out / f"{name}-{backbone}{tag}.npy", feats)
                rec = {"set": name, "backbone": backbone, "view": tag or "plain", "n": len(feats),
                       "seconds": round(wall, 1), "images_per_s": round(len(feats) / wall, 1)}
                print(json.dumps(rec), flush=True)
                with open(out / "timings.jsonl", "a") as f:
                    f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
