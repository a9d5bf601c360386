"""`unshuffle cluster all|train|evaluate|predict|export`: TEMI heads on cached features."""

from __future__ import annotations

import argparse
import json
import sys


def register(s: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `unshuffle cluster`."""
    for name, helptext, handler in (
        ("all", "extract -> neighbours -> train -> evaluate -> plots, in one go", all_command),
        ("train", "extract (cached) -> neighbours -> train TEMI heads into a run folder", train_command),
    ):
        p = s.add_parser(name, help=helptext)
        p.add_argument("data", help="images: a folder, archive, CIFAR/ImageNet pickles or .npz")
        p.add_argument("--clusters", type=_clusters_arg, default=None,
                       help="number of clusters K, or 'auto' to estimate it without labels (required for a new "
                            "run; never read from labels)")
        p.add_argument("--backbone", default=None,
                       help="efficientnet-lite0/1/2, dinov2-vits14/b/l/g, a hub id, a folder or module:factory")
        p.add_argument("--out", required=True, help="run folder")
        p.add_argument("--split", default=None, help="train, val or test where the data has splits")
        p.add_argument("--config", default=None, help="YAML file of settings (see clustering/config.py)")
        p.add_argument("--preset", default="auto",
                       help="settings preset: auto (default: chosen from the image count and whether a GPU is "
                            "present; printed and recorded in the run), default (the reference recipe) or cpu")
        p.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                       help="override settings, e.g. optim.epochs=50 head.n_heads=4")
        p.add_argument("--cache-dir", default=None, help="feature cache folder")
        p.add_argument("--force-recompute", action="store_true", help="re-extract features even when cached")
        mode = p.add_mutually_exclusive_group()
        mode.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
        mode.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
        p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")
        p.set_defaults(handler=handler)

    p = s.add_parser("evaluate", help="report (accuracy, NMI, ARI vs k-means and kNN) and plots of a run")
    p.add_argument("run", help="run folder of `cluster train`")
    p.add_argument("--cache-dir", default=None, help="feature cache folder (default: the one recorded)")
    p.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True, help="write PNGs")
    p.add_argument("--backbone", default=None, metavar="SPEC",
                   help="needed when the run's features are not cached: repeat the run's backbone (name, "
                        "folder or 'module:factory') to confirm you trust its weights or code")
    p.set_defaults(handler=evaluate_command)

    p = s.add_parser("predict", help="assign new images to the clusters of a trained run (CSV)")
    p.add_argument("run", help="run folder")
    p.add_argument("images", help="a folder or archive of images")
    p.add_argument("--out", required=True, help="CSV to write (columns file,cluster,confidence,rank)")
    p.add_argument("--split", default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--backbone", default=None, metavar="SPEC",
                   help="required: repeat the run's backbone (name, folder or 'module:factory') to confirm "
                        "you trust its weights or code; a run folder alone never makes predict load them")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")
    p.set_defaults(handler=predict_command)

    p = s.add_parser("report", help="a browsable HTML report of a run: RUN/report/index.html",
                     description="Writes RUN/report/index.html (one card per cluster, sizes, training curves, the "
                                 "evaluation when the data has labels, settings) and paged cluster pages of "
                                 "thumbnails; thumbnails are made once and kept in RUN/report/thumbs.")
    p.add_argument("run", help="run folder (reads config.json, assignments.csv, report.json, metrics.jsonl)")
    p.add_argument("--out", default=None, help="report folder (default: RUN/report)")
    p.add_argument("--per-page", type=int, default=200, metavar="N", help="thumbnails per cluster page (1..200)")
    p.add_argument("--thumb-size", type=int, default=96, metavar="PX", help="thumbnail size in pixels (default 96)")
    p.set_defaults(handler=report_command)

    p = s.add_parser("demo", help="cluster scikit-learn's bundled digits (1,797 images) offline; ACC vs k-means")
    p.add_argument("--out", default="results/cluster-demo", help="output folder (default: results/cluster-demo)")
    p.add_argument("--backbone", default="efficientnet-lite0", help="default: efficientnet-lite0 (offline)")
    p.add_argument("--preset", default="cpu", help="settings preset (default: cpu)")
    p.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE", help="override settings")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")
    p.set_defaults(handler=demo_command)

    p = s.add_parser("export", help="one folder per cluster with its images (symlinks, copies or PNGs)")
    p.add_argument("run", help="run folder (reads its assignments.csv)")
    p.add_argument("--out", required=True, help="folder to create; one sub-folder per cluster")
    p.add_argument("--copy", action="store_true",
                   help="copy image files instead of symlinking them (images inside archives, pickles or .npz "
                        "are always written as PNGs)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier export in --out (only cluster-* folders in it)")
    p.set_defaults(handler=export_command)


def _clusters_arg(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--clusters must be an integer or 'auto', got {value!r}") from None


def _config(args: argparse.Namespace):
    from unshuffle.clustering.config import load_config

    if args.resume:
        return None
    if args.clusters == "auto":
        from unshuffle.clustering.pipeline import estimate_clusters

        est = estimate_clusters(args.data, args.backbone, args.out, split=args.split, cache_dir=args.cache_dir,
                                force=args.force_recompute, progress=args.progress)
        print(f"estimated K = {est['k']} ({est['criterion']}; {len(est['candidates'])} candidates, "
              f"{est['seconds']:.0f} s); evidence in {args.out}/k_estimate/", flush=True)
        for w in est.get("warnings", []):
            print(f"warning: {w}", file=sys.stderr, flush=True)
        args.clusters = est["k"]
    overrides = list(args.overrides)
    if args.clusters is not None:
        overrides.append(f"clusters={args.clusters}")
    if args.preset == "auto":
        from unshuffle.clustering.recipe import config_for_data

        cfg, recipe = config_for_data(args.data, args.split, args.config, overrides)
        print(recipe.describe(), flush=True)
        args.recipe = recipe.to_dict()
        return cfg
    return load_config(args.config, overrides, preset=args.preset)


def _stage_args(args: argparse.Namespace) -> dict:
    return {"backbone": args.backbone, "split": args.split, "cache_dir": args.cache_dir,
            "force": args.force_recompute, "resume": args.resume, "overwrite": args.overwrite,
            "progress": args.progress, "recipe": getattr(args, "recipe", None)}


def all_command(args: argparse.Namespace) -> dict:
    from unshuffle.clustering.pipeline import cluster_all
    from unshuffle.evaluation.report import format_table

    out = cluster_all(args.data, _config(args), args.out, **_stage_args(args))
    print(format_table(out["report"]))
    print(f"run folder: {args.out}")
    return out


def train_command(args: argparse.Namespace) -> dict:
    from unshuffle.clustering.pipeline import train_on_images

    out = train_on_images(args.data, _config(args), args.out, **_stage_args(args))
    print(json.dumps(out, indent=2))
    return out


def evaluate_command(args: argparse.Namespace) -> dict:
    from unshuffle.clustering.pipeline import evaluate_run
    from unshuffle.evaluation.report import format_table

    report = evaluate_run(args.run, cache_dir=args.cache_dir, plots=args.plots, backbone=args.backbone)
    print(format_table(report))
    return report


def predict_command(args: argparse.Namespace) -> dict:
    from unshuffle.clustering.predict import predict_images

    out = predict_images(args.run, args.images, args.out, split=args.split, batch_size=args.batch_size,
                         device=args.device, backbone=args.backbone, progress=args.progress)
    print(json.dumps(out, indent=2))
    return out


def export_command(args: argparse.Namespace) -> dict:
    from unshuffle.clustering.outputs import export_clusters

    out = export_clusters(args.run, args.out, copy=args.copy, overwrite=args.overwrite)
    print(json.dumps(out, indent=2))
    return out


def report_command(args: argparse.Namespace) -> dict:
    from unshuffle.report.cluster_report import build_cluster_report

    out = build_cluster_report(args.run, args.out, per_page=args.per_page, thumb_size=args.thumb_size)
    made, kept = out["thumbnails"]["made"], out["thumbnails"]["kept"]
    print(f"{out['images']} images in {out['clusters']} clusters, {out['pages']} pages, {made} thumbnails made "
          f"({kept} kept) in {out['seconds']} s")
    print(f"report: {out['index']}")
    return out


def demo_command(args: argparse.Namespace) -> dict:
    from unshuffle.clustering.demo import digits_demo
    from unshuffle.evaluation.report import format_table

    out = digits_demo(args.out, backbone=args.backbone, preset=args.preset, progress=args.progress,
                      overrides=args.overrides)
    print(format_table(out["report"]))
    print(f"digits (1,797 images, 10 clusters) in {out['seconds']} s; run folder {out['run']} "
          f"(assignments.csv, report.json, plots/gallery.png, plots/sizes.png, plots/curves.png)")
    return out
