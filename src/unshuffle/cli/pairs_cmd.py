"""`unshuffle fragments train-pairs`: train the self-supervised edge pair model (PyTorch Lightning)."""

from __future__ import annotations

import argparse
import json


def register(s: argparse._SubParsersAction) -> None:
    """Add `train-pairs` to `unshuffle fragments`."""
    p = s.add_parser("train-pairs", help="train the learned edge pair model on unlabeled images",
                     description="Self-supervised training of the edge pair model: adjacent crops of the "
                                 "images are positives, every other crop in the batch a negative; damage "
                                 "(noise, JPEG, eroded borders) is drawn per batch. Writes a run folder "
                                 "and, with --export, the .npz that `fragments solve --pair-model` reads.")
    p.add_argument("train_dir", metavar="DATA", help="unlabeled images (any format open_images reads)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder: config.json, metrics.jsonl, checkpoints/")
    p.add_argument("--export", default=None, metavar="NPZ", help="write the trained model here (weights only)")
    p.add_argument("--split", default=None)
    p.add_argument("--max-images", type=int, default=0, help="use at most this many images (0: all)")
    p.add_argument("--images-per-batch", type=int, default=64)
    p.add_argument("--pairs-per-image", type=int, default=4)
    p.add_argument("--fragment-size", type=int, default=16)
    p.add_argument("--steps-per-epoch", type=int, default=200, help="batches per epoch over all processes")
    p.add_argument("--val-steps", type=int, default=10)
    p.add_argument("--max-epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--dim", type=int, default=96)
    p.add_argument("--accelerator", default="auto", help="auto, cpu or gpu")
    p.add_argument("--devices", type=int, default=1, help="processes (DDP when > 1)")
    p.add_argument("--strategy", default="auto", help="auto, ddp, ddp_spawn, ...")
    p.add_argument("--precision", default="32-true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", nargs="?", const="last", default=None,
                   help="continue from a checkpoint (default: RUN/checkpoints/last.ckpt)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    p.set_defaults(handler=train_pairs_command)


def train_pairs_command(args: argparse.Namespace) -> dict:
    from unshuffle.fragments.learned.pair_training import PairTrainConfig, train_pair_model

    cfg = PairTrainConfig(
        train_dir=args.train_dir, output_dir=args.out, split=args.split, max_images=args.max_images,
        images_per_batch=args.images_per_batch, pairs_per_image=args.pairs_per_image,
        fragment_size=args.fragment_size, steps_per_epoch=args.steps_per_epoch, val_steps=args.val_steps,
        max_epochs=args.max_epochs, lr=args.lr, width=args.width, dim=args.dim, accelerator=args.accelerator,
        devices=args.devices, strategy=args.strategy, precision=args.precision, seed=args.seed,
        resume=args.resume, export=args.export, progress=args.progress)
    result = train_pair_model(cfg)
    print(json.dumps(result, indent=2))
    return result
