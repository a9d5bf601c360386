"""Write a seeded sample of an image collection as PNGs in class folders (for timing ``cluster all`` from scratch).

    python benchmarks/make_image_folder.py /work/shared/data/cifar10/test.tar.gz 2000 /work/exp/folder2000 --seed 14

Images: ``default_rng(seed).choice(N, count, replace=False)``, sorted; each written as
``OUT/<class name>/<index:05d>.png`` (the folder names give ``cluster all`` its labels for the report).
Writes ``OUT/../<name>-indices.json`` beside it with the rule and the indices.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("count", type=int)
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--split", default=None)
    args = p.parse_args()

    from PIL import Image

    from unshuffle.data import open_images

    images = open_images(args.data, split=args.split)
    idx = np.sort(np.random.default_rng(args.seed).choice(len(images), args.count, replace=False))
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out}: exists; remove it first")
    for i in idx:
        name = images.class_names[images.labels[i]] if images.labels is not None else "all"
        (out / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(images.image(int(i))).save(out / name / f"{int(i):05d}.png")
    rule = f"numpy.random.default_rng({args.seed}).choice({len(images)}, {args.count}, replace=False), sorted"
    (out.parent / f"{out.name}-indices.json").write_text(json.dumps({"data": args.data, "rule": rule,
                                                                     "indices": idx.tolist()}))
    print(f"{len(idx)} images -> {out}")


if __name__ == "__main__":
    main()
