"""`unshuffle cluster extract|neighbors`: cached backbone features and nearest neighbours."""

from __future__ import annotations

import argparse


def register(s: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `unshuffle cluster`."""
    p = s.add_parser("extract", help="extract backbone features once into the feature cache")
    p.add_argument("data", help="images: a folder, archive, pickle batch or .npz")
    p.add_argument("--backbone", default="efficientnet-lite0",
                   help="efficientnet-lite0/1/2, dinov2-vits14/vitb14/vitl14/vitg14, a DINOv2 hub id or "
                        "folder, or 'pkg.module:factory' (default: efficientnet-lite0)")
    p.add_argument("--cache-dir", default=".cache/features", help="feature cache folder (default: .cache/features)")
    p.add_argument("--split", default=None, help="train, val or test, where the data has splits")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: 64)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--devices", type=int, default=1, help="> 1 runs Lightning's predict loop under DDP")
    p.add_argument("--chunk-size", type=int, default=1024, help="images per resumable part file (default: 1024)")
    p.add_argument("--force-recompute", action="store_true", help="ignore the cache and recompute")
    p.add_argument("--onnx", action=argparse.BooleanOptionalAction, default=None,
                   help="run the backbone with ONNX Runtime on CPU (default: automatically for built-in and "
                        "Hugging Face backbones on CPU, checked against torch; --no-onnx: torch)")
    p.set_defaults(handler=extract_command)

    q = s.add_parser("neighbors", help="mine top-k cosine neighbours of cached features with faiss")
    q.add_argument("features", help="a feature cache entry folder (from `extract`) or a float32 (N, D) .npy")
    q.add_argument("--k", type=int, default=50, help="neighbours per image (default: 50)")
    q.add_argument("--method", choices=("exact", "ivf"), default="exact", help="faiss index (default: exact)")
    q.add_argument("--nlist", type=int, default=None, help="IVF lists (default: about 4*sqrt(N))")
    q.add_argument("--nprobe", type=int, default=None, help="IVF lists visited per query (default: nlist/8)")
    q.add_argument("--out", default=None,
                   help="neighbours .npy (default: neighbors-k<K>-<method>.npy inside the entry folder)")
    q.set_defaults(handler=neighbors_command)


def extract_command(args: argparse.Namespace) -> dict:
    import json

    from unshuffle.data import open_images
    from unshuffle.features.cache import build_feature_cache, load_features

    images = open_images(args.data, split=args.split)
    entry = build_feature_cache(images, args.backbone, args.cache_dir, split=args.split, force=args.force_recompute,
                                batch_size=args.batch_size, device=args.device, devices=args.devices,
                                onnx=args.onnx, chunk_size=args.chunk_size)
    meta = load_features(entry)[1]
    info = {"entry": str(entry), "features": str(entry / "features.npy"), "n": meta["n"], "dim": meta["dim"],
            "engine": meta["engine"], "sha256": meta["sha256"]}
    print(json.dumps(info, indent=2))
    return info


def neighbors_command(args: argparse.Namespace) -> dict:
    import json

    from unshuffle.clustering.neighbors import mine_neighbors_file

    out, idx = mine_neighbors_file(args.features, args.out, args.k, args.method, nlist=args.nlist, nprobe=args.nprobe)
    info = {"neighbors": str(out), "shape": list(idx.shape)}
    print(json.dumps(info, indent=2))
    return info
