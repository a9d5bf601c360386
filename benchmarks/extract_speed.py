"""Issue 5: EfficientNet-Lite0 feature extraction speed (images per second), torch vs ONNX Runtime.

Decodes the first N images of a data set once (timed), then extracts features of those N images
through the same cache path as ``unshuffle cluster extract --force-recompute`` into a temporary cache
folder (``build_feature_cache(force=True)``), once with torch eager and once with ONNX Runtime (the
exported model is copied from the main cache so the one-time export is not timed; ORT uses its default
thread count, as the CLI does). Also times the backbone alone with an explicit thread count.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/extract_speed.py \
        /work/shared/data/tiny-imagenet-200/val.tar.gz --images 256 --threads 1 --out runs/temi/extract-speed.json
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    from unshuffle.runs.measure import write_results

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--backbone", default="efficientnet-lite0")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch threads and ORT intra-op threads for the "
                                                           "backbone-only timings")
    p.add_argument("--cache-dir", default=".cache/features", help="where the exported ONNX model is found")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from unshuffle.data import open_images
    from unshuffle.features.backbones import load_backbone, resolve_spec
    from unshuffle.features.cache import build_feature_cache, load_features
    from unshuffle.features.extract import extract_features
    from unshuffle.features.onnx_runtime import OnnxEngine, onnx_path, weights_sha256
    from unshuffle.features.preprocess import preprocess

    res: dict = {"data": args.data, "images": args.images, "batch_size": args.batch_size, "threads": args.threads,
                 "torch": torch.__version__}
    ds = open_images(args.data)
    t0 = time.perf_counter()
    imgs = np.stack([ds.image(i) for i in range(args.images)])
    res["decode_img_per_s"] = args.images / (time.perf_counter() - t0)
    spec = resolve_spec(args.backbone)
    t0 = time.perf_counter()
    for s in range(0, args.images, args.batch_size):
        preprocess(list(imgs[s : s + args.batch_size]), spec)
    res["preprocess_img_per_s"] = args.images / (time.perf_counter() - t0)

    src_onnx = onnx_path(args.cache_dir, spec, weights_sha256(load_backbone(spec)[0]))
    with tempfile.TemporaryDirectory(prefix="extract-speed-") as tmp:
        (Path(tmp) / "onnx").mkdir()
        shutil.copy(src_onnx, Path(tmp) / "onnx" / src_onnx.name)
        out = {}
        for engine in ("torch", "onnx"):
            t0 = time.perf_counter()
            entry = build_feature_cache(imgs, spec, tmp, force=True, batch_size=args.batch_size,
                                        onnx=(engine == "onnx"), progress=False)
            res[f"cache_{engine}_img_per_s"] = args.images / (time.perf_counter() - t0)
            out[engine] = load_features(entry)[0]
        res["max_abs_diff_torch_onnx"] = float(np.abs(out["torch"] - out["onnx"]).max())

    # backbone forward only (preprocessing included, model loading excluded), explicit threads
    model, spec = load_backbone(spec)
    for name, m in (("torch", model), ("onnx", OnnxEngine(src_onnx, threads=args.threads))):
        extract_features(imgs[: args.batch_size], m, spec, batch_size=args.batch_size, progress=False)  # warm-up
        t0 = time.perf_counter()
        extract_features(imgs, m, spec, batch_size=args.batch_size, progress=False)
        res[f"forward_{name}_{args.threads}thr_img_per_s"] = args.images / (time.perf_counter() - t0)
    write_results(res, args.out)


if __name__ == "__main__":
    main()
