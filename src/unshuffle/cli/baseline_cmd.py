"""`unshuffle fragments cut|train|evaluate|visualize|demo`: the sampler and the case-study baseline."""

from __future__ import annotations

import argparse
import json
import sys


def register(s: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `unshuffle fragments`."""
    p = s.add_parser("cut", help="cut images into one shuffled bag of fragment files + truth.json")
    p.add_argument("data", help="image data: folder, archive, pickle batches, .npz")
    p.add_argument("--out", required=True, help="folder to write (refused if it exists, unless --overwrite)")
    _sample_args(p)
    p.add_argument("--index", type=int, default=0, help="which bag of the seeded stream (default 0)")
    p.add_argument("--damage", default="clean", metavar="SPEC",
                   help="damage applied as in `fragments bench`, '+' to combine: clean (default), rotation "
                        "(each fragment turned by a random quarter turn, recorded in truth.json), missing[=share], "
                        "noise[=sigma], jpeg[=quality], eroded[=px]; e.g. rotation+missing=0.1")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier bag in --out (a folder holding truth.json, or empty)")
    p.set_defaults(handler=cut_command)

    p = s.add_parser("train", help="train the case-study autoencoder (PyTorch Lightning)")
    p.add_argument("--train-dir", required=True)
    p.add_argument("--val-dir", default=None, help="held-out images (default: hold aside --val-fraction of train)")
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--output-dir", required=True, help="run folder: config.json, metrics.jsonl, checkpoints/")
    p.add_argument("--split", default=None, help="split of --train-dir, where it has splits")
    p.add_argument("--image-size", type=int, default=None, help="centre-crop and resize images to this size")
    p.add_argument("--images-per-sample", type=int, default=10)
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=8, help="bags per step")
    p.add_argument("--steps-per-epoch", type=int, default=100, help="batches per epoch over all processes")
    p.add_argument("--val-steps", type=int, default=50)
    p.add_argument("--max-epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--num-workers", type=int, default=0)
    hw = p.add_mutually_exclusive_group()
    hw.add_argument("--gpus", type=int, default=None,
                    help="alias of --accelerator gpu --devices N; 0 runs on CPU")
    hw.add_argument("--accelerator", default=None, help="auto, cpu or gpu")
    p.add_argument("--devices", type=int, default=None, help="processes (with --accelerator)")
    p.add_argument("--strategy", default="auto", help="auto, ddp, ddp_spawn, ...")
    p.add_argument("--precision", default="32-true", help="32-true, bf16-mixed, 16-mixed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", nargs="?", const="last", default=None,
                   help="continue from a checkpoint (default: OUTPUT/checkpoints/last.ckpt)")
    p.add_argument("--checkpoint-every-n-steps", type=int, default=0,
                   help="also refresh last.ckpt every n steps (default: at epoch ends only)")
    p.add_argument("--record-samples", action="store_true", help="write the bag indices each rank drew")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    p.set_defaults(handler=train_command)

    p = s.add_parser("evaluate", help="ARI/NMI/purity of the autoencoder (and baselines) over many bags")
    p.add_argument("--val-dir", required=True)
    p.add_argument("--ckpt", default=None, help="autoencoder checkpoint (omit to score baselines only)")
    p.add_argument("--num-samples", type=int, default=1000)
    _sample_args(p, index=False)
    p.add_argument("--with-baselines", action="store_true", help="also random and raw-pixel KMeans")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    p.set_defaults(handler=evaluate_command)

    p = s.add_parser("visualize", help="draw one bag and the autoencoder's groups as a PNG")
    p.add_argument("--val-dir", required=True)
    p.add_argument("--ckpt", required=True)
    _sample_args(p)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--save-path", required=True)
    p.set_defaults(handler=visualize_command)

    p = s.add_parser("demo", help="the embedded scikit-image photos in one bag: solve, score, draw")
    p.add_argument("--out", default="results/demo")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier demo in --out (a folder holding metrics.json, or empty)")
    p.set_defaults(handler=demo_command)


def _sample_args(p: argparse.ArgumentParser, index: bool = True) -> None:
    p.add_argument("--images-per-sample", type=int, default=10, help="N source images per bag")
    p.add_argument("--grid", type=int, default=4, help="g: each image is cut into g x g fragments")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default=None, help="train, val or test, where the data has splits")
    p.add_argument("--image-size", type=int, default=None, help="centre-crop and resize images to this size")


def cut_command(args: argparse.Namespace) -> str:
    from unshuffle.data import open_images
    from unshuffle.errors import ConfigError, DataFormatError
    from unshuffle.fragments.bags.damage import apply_damage, parse_condition
    from unshuffle.fragments.bags.folders import write_bag
    from unshuffle.fragments.bags.sampling import FragmentSampler
    from unshuffle.runs.atomic import check_apart

    check_apart(args.data, args.out)
    condition = parse_condition(args.damage)
    if condition.unknown_n:
        raise ConfigError("--damage unknown-n is a bench setting (whether the method is told N and the grid); "
                          "a cut bag never tells the solver either: leave it out")
    try:  # the library names its parameters; say which flag that is
        images = open_images(args.data, split=args.split, size=args.image_size)
        bag = FragmentSampler(images, args.images_per_sample, args.grid, args.seed).sample(args.index)
        bag = apply_damage(bag, condition, args.seed, args.index)
        if len(bag) < 2:
            raise ConfigError(f"--damage {condition.name} leaves {len(bag)} fragment(s), and a bag needs at least 2: "
                              "use a smaller missing share or more fragments (--grid, --images-per-sample)")
    except ConfigError as e:
        raise ConfigError(_cut_flags(str(e))) from None
    except DataFormatError as e:
        raise type(e)(e.path, _cut_flags(e.problem)) from None
    out = write_bag(bag, args.out, seed=args.seed * 1_000_003 + args.index, overwrite=args.overwrite,
                    damage=condition.name)
    damaged = "" if condition.name == "clean" else f", damage {condition.name}"
    print(f"wrote {len(bag)} fragments of {bag.fragment_size} px from {bag.n_images} images to {out}{damaged} "
          f"(truth in {out}/truth.json)")
    return str(out)


_CUT_FLAGS = (("images_per_sample=", "--images-per-sample "), ("images_per_sample", "--images-per-sample"),
              ("grid=", "--grid "), ("grid must", "--grid must"), ("seed must", "--seed must"),
              ("sample index", "--index"),
              ("open it with size=S to resize them", "pass --image-size S to centre-crop and resize them"),
              ("or resize the images", "or centre-crop and resize them with --image-size S"))


def _cut_flags(message: str) -> str:
    for param, flag in _CUT_FLAGS:
        message = message.replace(param, flag)
    if "must be square" in message:
        message += "; pass --image-size S to centre-crop and resize them"
    return message


def train_command(args: argparse.Namespace) -> dict:
    from unshuffle.fragments.baseline.ae_training import AutoencoderTrainConfig, train_autoencoder

    if args.gpus is not None:
        accelerator, devices = ("cpu", 1) if args.gpus == 0 else ("gpu", args.gpus)
    else:
        accelerator, devices = args.accelerator or "auto", args.devices or 1
    cfg = AutoencoderTrainConfig(
        train_dir=args.train_dir, val_dir=args.val_dir, val_fraction=args.val_fraction,
        output_dir=args.output_dir, split=args.split, image_size=args.image_size,
        images_per_sample=args.images_per_sample, grid=args.grid, batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch, val_steps=args.val_steps, max_epochs=args.max_epochs,
        lr=args.lr, embedding_dim=args.embedding_dim, num_workers=args.num_workers,
        accelerator=accelerator, devices=devices, strategy=args.strategy, precision=args.precision,
        seed=args.seed, resume=args.resume, checkpoint_every_n_steps=args.checkpoint_every_n_steps,
        record_samples=args.record_samples, progress=args.progress,
    )
    result = train_autoencoder(cfg)
    print(json.dumps(result, indent=2))
    return result


def evaluate_command(args: argparse.Namespace) -> dict:
    import unshuffle
    from unshuffle.data import open_images
    from unshuffle.fragments.baseline.evaluate import (
        autoencoder_method,
        baseline_methods,
        evaluate_grouping,
    )
    from unshuffle.runs.atomic import atomic_write_json

    if args.ckpt is None and not args.with_baselines:
        raise SystemExit("evaluate: give --ckpt, --with-baselines, or both")
    images = open_images(args.val_dir, split=args.split, size=args.image_size)
    methods = {}
    if args.ckpt is not None:
        from unshuffle.fragments.baseline.autoencoder import load_autoencoder

        methods["model"] = autoencoder_method(load_autoencoder(args.ckpt))
    if args.with_baselines:
        methods.update(baseline_methods())
    report = evaluate_grouping(images, methods, num_samples=args.num_samples,
                               images_per_sample=args.images_per_sample, grid=args.grid,
                               seed=args.seed, progress=args.progress)
    report["settings"].update({"checkpoint": args.ckpt, "split": args.split, "image_size": args.image_size})
    report["version"] = unshuffle.__version__
    report["seed"] = args.seed
    per_sample = report.pop("per_sample")
    print(json.dumps(report, indent=2))
    if args.out:
        atomic_write_json(args.out, {**report, "per_sample": per_sample})
    return report


def visualize_command(args: argparse.Namespace) -> str:
    from unshuffle.data import open_images
    from unshuffle.evaluation.metrics import grouping_scores
    from unshuffle.fragments.bags.sampling import FragmentSampler
    from unshuffle.fragments.bags.solution import Solution
    from unshuffle.fragments.baseline.autoencoder import group_with_autoencoder, load_autoencoder
    from unshuffle.plots.fragments import plot_grouping

    images = open_images(args.val_dir, split=args.split, size=args.image_size)
    bag = FragmentSampler(images, args.images_per_sample, args.grid, args.seed).sample(args.index)
    labels = group_with_autoencoder(load_autoencoder(args.ckpt), bag.fragments, bag.n_images, args.seed)
    sc = grouping_scores(bag.source, labels)
    title = (f"autoencoder + KMeans, bag {args.index}: ARI {sc['ari']:.3f}, NMI {sc['nmi']:.3f}, "
             f"purity {sc['purity']:.3f}")
    path = plot_grouping(bag, Solution.grouping_only(labels), args.save_path, title=title)
    print(f"{title}\nwrote {path}")
    return str(path)


def demo_command(args: argparse.Namespace) -> dict:
    from unshuffle.fragments.demo import run_demo

    result = run_demo(args.out, image_size=args.image_size, grid=args.grid, seed=args.seed,
                      overwrite=args.overwrite)
    sys.stdout.write(result["table"] + "\n")
    print(f"wrote {result['picture']} and {result['metrics']}")
    print(f"solved bag's report: {result['report']}")
    return result
