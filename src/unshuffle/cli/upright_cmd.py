"""`unshuffle fragments train-upright`: train the self-supervised upright model (rotation prediction)."""

from __future__ import annotations

import argparse
import json


def register(s: argparse._SubParsersAction) -> None:
    """Add `train-upright` to `unshuffle fragments`."""
    p = s.add_parser("train-upright", help="train the upright orientation model on unlabeled images",
                     description="Self-supervised training of the upright model: random crops of the images are "
                                 "shown in their 4 quarter turns and the model learns which turn was applied "
                                 "(a plain torch loop, no checkpoints: a CPU run takes under half an hour). Writes "
                                 "a run folder and, with --export, the .npz that `fragments solve` reads.")
    p.add_argument("train_dir", metavar="DATA", help="unlabeled images (any format open_images reads)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder: config.json, metrics.jsonl, result.json")
    p.add_argument("--export", default=None, metavar="NPZ", help="write the trained model here (arrays only)")
    p.add_argument("--max-images", type=int, default=0, help="use at most this many images (0: all)")
    p.add_argument("--image-size", type=int, default=64, help="images are centre-cropped and resized to this")
    p.add_argument("--size", type=int, default=32, help="model input side in pixels")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=128, help="images per step (each shown in 4 turns)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=train_upright_command)


def train_upright_command(args: argparse.Namespace) -> dict:
    from unshuffle.fragments.learned.upright_training import UprightTrainConfig, train_upright_model

    cfg = UprightTrainConfig(train_dir=args.train_dir, output_dir=args.out, max_images=args.max_images,
                             image_size=args.image_size, size=args.size, steps=args.steps, batch=args.batch,
                             lr=args.lr, threads=args.threads, seed=args.seed, export=args.export)
    result = train_upright_model(cfg)
    print(json.dumps(result, indent=2))
    return result
