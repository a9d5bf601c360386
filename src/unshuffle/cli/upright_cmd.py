"""`unshuffle fragments train-upright`: train the self-supervised upright head (rotation prediction)."""

from __future__ import annotations

import argparse
import json


def register(s: argparse._SubParsersAction) -> None:
    """Add `train-upright` to `unshuffle fragments`."""
    p = s.add_parser("train-upright", help="train the upright orientation model on unlabeled images",
                     description="Self-supervised training of the upright head: each image (and random crops of "
                                 "it) is shown in its 4 quarter turns to the frozen EfficientNet-Lite0 trunk, and "
                                 "an MLP head learns which turn was applied. Writes a run folder and, with --export, "
                                 "the arrays-only .npz that `fragments solve` reads.")
    p.add_argument("train_dir", metavar="DATA", help="unlabeled images (any format open_images reads; "
                                                      "unused with --from-head)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder: config.json, metrics.jsonl, result.json")
    p.add_argument("--export", default=None, metavar="NPZ", help="write the trained head here (arrays only)")
    p.add_argument("--feature-cache", default=None, metavar="DIR",
                   help="keep the trunk maps of the training samples here (a rerun with other head settings "
                        "reuses them)")
    p.add_argument("--max-images", type=int, default=0, help="use at most this many images (0: all)")
    p.add_argument("--image-size", type=int, default=64, help="images are centre-cropped and resized to this")
    p.add_argument("--size", type=int, default=64, help="trunk input side in pixels (multiple of 16)")
    p.add_argument("--blocks", type=int, default=11, help="EfficientNet-Lite0 blocks in the frozen trunk")
    p.add_argument("--hidden", type=int, default=512, help="MLP head width")
    p.add_argument("--crops-per-image", type=int, default=1, help="random crops per image besides the whole image")
    p.add_argument("--epochs", type=float, default=3, help="passes over the training samples (may be fractional)")
    p.add_argument("--batch", type=int, default=256, help="samples per step")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the head")
    p.add_argument("--tune-from", type=int, default=0, metavar="K",
                   help="fine-tune trunk blocks K..blocks-1 with the head (on cached maps of the frozen blocks "
                        "before K); 0: the trunk stays frozen, only the head trains")
    p.add_argument("--trunk-lr", type=float, default=3e-4, help="peak learning rate of the fine-tuned blocks")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (trunk and head)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--large-size", type=int, default=128,
                   help="shorter side (multiple of 16) of large pictures in the trunk, aspect kept (0: squeezed)")
    p.add_argument("--rule-photos", nargs="+", default=(), metavar="DIR",
                   help="folders of upright photos (not from any evaluation set) to fit the large-picture rule "
                        "combining the model with brightness, blue, texture and landscape cues")
    p.add_argument("--from-head", default=None, metavar="NPZ",
                   help="skip training: take this exported head and only fit the rule (--rule-photos)")
    p.set_defaults(handler=train_upright_command)


def train_upright_command(args: argparse.Namespace) -> dict:
    from unshuffle.fragments.learned.upright_training import UprightTrainConfig, train_upright_model

    cfg = UprightTrainConfig(train_dir=args.train_dir, output_dir=args.out, max_images=args.max_images,
                             image_size=args.image_size, size=args.size, blocks=args.blocks, hidden=args.hidden,
                             crops_per_image=args.crops_per_image, epochs=args.epochs, batch=args.batch,
                             lr=args.lr, tune_from=args.tune_from, trunk_lr=args.trunk_lr, threads=args.threads,
                             seed=args.seed, feature_cache=args.feature_cache,
                             export=args.export, large_size=args.large_size,
                             rule_photos=tuple(args.rule_photos), from_head=args.from_head)
    result = train_upright_model(cfg)
    print(json.dumps(result, indent=2))
    return result
