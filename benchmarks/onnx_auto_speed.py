"""Issue 16: CPU feature extraction through the default path, torch vs the automatic ONNX Runtime engine.

Extracts the first N images of a data set with ``build_feature_cache(force=True)`` into a temporary
cache: first ``onnx=None`` (auto; the one-time export and its check against torch timed apart), then
again with the export cached, then ``onnx=False`` (torch). Both engines use their default threads.

    python benchmarks/onnx_auto_speed.py /work/shared/data/cifar10/cifar-10-python.tar.gz --images 256 \
        --out results/onnx-auto-speed.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    from unshuffle.runs.measure import write_results

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--backbone", default="efficientnet-lite0")
    p.add_argument("--split", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args()

    import numpy as np
    import torch

    from unshuffle.data import open_images
    from unshuffle.features.backbones import load_backbone, resolve_spec
    from unshuffle.features.cache import build_feature_cache, load_features
    from unshuffle.features.onnx_runtime import cpu_engine

    ds = open_images(args.data, split=args.split or None)
    imgs = np.stack([ds.image(i) for i in range(args.images)])
    spec = resolve_spec(args.backbone)
    res: dict = {"data": args.data, "images": args.images, "backbone": spec.name, "torch": torch.__version__,
                 "torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(prefix="onnx-auto-") as tmp:
        model, spec = load_backbone(spec)
        t0 = time.perf_counter()
        _, engine = cpu_engine(model, spec, tmp)
        res["export_and_check_s"] = round(time.perf_counter() - t0, 2)
        res["auto_engine"] = engine
        res["check"] = json.loads(next(Path(tmp, "onnx").glob("*.json")).read_text())
        feats = {}
        for name, onnx in (("auto", None), ("torch", False)):
            t0 = time.perf_counter()
            entry = build_feature_cache(imgs, spec, tmp, force=True, onnx=onnx, progress=False)
            res[f"{name}_img_per_s"] = round(args.images / (time.perf_counter() - t0), 2)
            feats[name], meta = load_features(entry)
            res[f"{name}_engine"] = meta["engine"]
        res["max_abs_diff"] = float(np.abs(feats["auto"] - feats["torch"]).max())
        res["speedup"] = round(res["auto_img_per_s"] / res["torch_img_per_s"], 2)
    write_results(res, args.out)


if __name__ == "__main__":
    main()
