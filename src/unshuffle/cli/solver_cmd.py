"""`unshuffle fragments solve|score|bench`: the boundary-matching fragment solver."""

from __future__ import annotations

import argparse
import json

_CONDITIONS_HELP = ("condition specs, '+' to combine: clean, noise[=sigma], jpeg[=quality], eroded[=px], "
                    "rotation, missing[=share], unknown-n (e.g. rotation+missing)")


def register(s: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `unshuffle fragments`."""
    p = s.add_parser("solve", help="group and place the fragment images of a folder or archive",
                     description="Group fragments by source image and place each (row, col, turn); writes "
                                 "groups.json and one reassembled PNG per group into --out.")
    p.add_argument("input", metavar="INPUT", help="folder or .zip/.tar/.tar.gz of fragment images (any names)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (refused if it exists)")
    p.add_argument("--n-images", type=int, default=None, metavar="N", help="number of source images "
                   "(estimated when absent)")
    p.add_argument("--grid", type=_grid, default=None, metavar="G|RxC", help="fragments per image: g x g, or "
                   "R rows x C columns for non-square photos, e.g. 8x12 (estimated when absent)")
    p.add_argument("--rotations", action=argparse.BooleanOptionalAction, default=None,
                   help="fragments are (--rotations) or are not (--no-rotations) turned by multiples of 90 "
                        "degrees (default: decided from the bag, recorded in groups.json)")
    p.add_argument("--measure", default="auto", metavar="NAME", help="edge measure: auto, prediction, mgc, "
                   "combined, learned or hybrid (default: auto)")
    p.add_argument("--pair-model", default=None, metavar="NPZ", help="edge pair model for learned/hybrid "
                   "(default: the one shipped with unshuffle)")
    p.add_argument("--placer", default="auto", choices=("auto", "greedy", "grow", "best"),
                   help="auto (default): best for images of 100 pieces or more, else greedy; greedy: cluster "
                        "merging; grow: Paikin & Tal's one-piece-at-a-time placer; best: greedy, then each image "
                        "regrown by grow and the layout with more best-buddy seams kept (recorded in groups.json)")
    p.add_argument("--upright", action=argparse.BooleanOptionalAction, default=True,
                   help="when fragments are turned, turn each group as a whole to its most likely upright "
                        "orientation (self-supervised upright model; default: yes)")
    p.add_argument("--upright-model", default=None, metavar="NPZ", help="upright model (default: the one "
                   "shipped with unshuffle; `fragments train-upright` makes one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier solution in --out (a folder holding groups.json, or empty)")
    p.set_defaults(handler=solve_command)

    from unshuffle.fragments.bags.truth import TRUTH_FORMATS

    p = s.add_parser("score", help="score a solve output folder against a truth file",
                     description="Print the scores (JSON) of a solution folder against the bag's truth.\n\n"
                                 + TRUTH_FORMATS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("solution", metavar="DIR", help="folder written by `unshuffle fragments solve`")
    p.add_argument("truth", metavar="TRUTH", help="truth file of the bag (JSON, either format below)")
    p.add_argument("--fragments", default=None, metavar="PATH", help="folder/archive of the fragment images "
                   "(default: the bag DIR/groups.json says was solved, if it is still there, else the folder "
                   "of TRUTH)")
    p.add_argument("--rotations", action=argparse.BooleanOptionalAction, default=None,
                   help="score up to one quarter turn per group (default: as recorded by solve)")
    p.add_argument("--out", default=None, metavar="FILE", help="also write the scores to this JSON file")
    p.set_defaults(handler=score_command)

    p = s.add_parser("report", help="(re)write report.html of a solve output folder, with the score given a truth",
                     description="Rebuild DIR/report.html from DIR/groups.json (every group's reassembly, cells "
                                 "tinted by confidence, the solver's decisions); with --truth the score is added.")
    p.add_argument("solution", metavar="DIR", help="folder written by `unshuffle fragments solve`")
    p.add_argument("--truth", default=None, metavar="TRUTH", help="truth file of the bag: adds the score "
                   "(formats: see `unshuffle fragments score --help`)")
    p.add_argument("--fragments", default=None, metavar="PATH", help="folder/archive of the fragment images "
                   "(default: the bag DIR/groups.json says was solved, if it is still there, else the folder "
                   "of TRUTH)")
    p.add_argument("--rotations", action=argparse.BooleanOptionalAction, default=None,
                   help="score up to one quarter turn per group (default: as recorded by solve)")
    p.set_defaults(handler=report_command)

    p = s.add_parser("bench", help="every method on the same damaged samples -> JSON, markdown, pictures",
                     description="Runs each (condition, method) cell on the same samples; finished cells "
                                 "are kept in OUT/parts and skipped on rerun.")
    p.add_argument("--data", required=True, help="image collection (any format open_images reads) or 'demo'")
    p.add_argument("--conditions", nargs="+", default=["clean"], metavar="SPEC", help=_CONDITIONS_HELP)
    p.add_argument("--methods", nargs="+", default=["solver", "autoencoder", "kmeans", "random"],
                   metavar="METHOD", help="solver, solver:opt=value,... (ablation), autoencoder, kmeans, random")
    p.add_argument("--samples", type=int, default=100, metavar="K", help="bags per condition")
    p.add_argument("--images-per-sample", type=int, default=10, metavar="N")
    p.add_argument("--grid", type=int, default=4, metavar="G")
    p.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="centre-crop and resize images to S x S (default: as stored; 64 for demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ae-ckpt", default=None, metavar="CKPT", help="autoencoder checkpoint (without it the "
                   "autoencoder row is left out)")
    p.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True,
                   help="one untimed call per cell before timing (default: yes)")
    p.add_argument("--out", default="results/fragments-bench", metavar="DIR")
    p.set_defaults(handler=bench_command)


_SOLVE_FLAGS = {"n_images": "--n-images", "grid": "--grid", "rotations": "--rotations", "measure": "--measure",
                "pair_model": "--pair-model", "upright_model": "--upright-model", "upright": "--upright",
                "seed": "--seed", "overwrite=True (--overwrite)": "--overwrite", "overwrite=True": "--overwrite",
                "placer": "--placer", "out_dir": "--out"}


def _grid(text: str) -> int | tuple[int, int]:
    """``--grid``: ``G`` (G x G) or ``RxC`` (R rows, C columns); the values are checked by the solver, whose
    message names the flag."""
    parts = text.lower().split("x")
    try:
        values = [int(v) for v in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected G or RxC with whole numbers (e.g. 8 or 8x12), got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def solve_command(args: argparse.Namespace) -> dict:
    from unshuffle.errors import ConfigError
    from unshuffle.fragments.solver.fragment_solver import FragmentSolver
    from unshuffle.fragments.solver.solve import describe_solution, solve_fragment_folder

    rotations = "auto" if args.rotations is None else args.rotations
    solver = FragmentSolver(n_images=args.n_images, grid=args.grid, rotations=rotations, seed=args.seed,
                            measure=args.measure, pair_model=args.pair_model, upright=args.upright,
                            upright_model=args.upright_model, placer=args.placer)
    import sys
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:  # hints that conflict with the bag
            warnings.simplefilter("always", UserWarning)
            summary = solve_fragment_folder(args.input, args.out, solver, overwrite=args.overwrite)
    except ConfigError as e:  # the library names its parameters; say which flag that is
        raise ConfigError(_with_flags(str(e))) from None
    for w in caught:
        if issubclass(w.category, UserWarning):
            print(f"warning: {_with_flags(str(w.message))}", file=sys.stderr)
    n_skip, n_groups = summary["skipped"], summary["groups"]
    skipped = f" ({n_skip} non-image file{'s' * (n_skip != 1)} skipped)" if n_skip else ""
    print(f"{summary['fragments']} fragments{skipped} -> {n_groups} group{'s' * (n_groups != 1)} in {summary['out']}")
    print("\n".join(describe_solution(summary)))
    print(f"report: {summary['report']}")
    return summary


def _with_flags(message: str) -> str:
    for param, flag in _SOLVE_FLAGS.items():
        if message.startswith((f"{param} ", f"{param}=")):
            return f"{flag}{message[len(param):]}".replace(" must be None, ", " must be left out, ").replace(
                " must be None or ", " must be left out or ")  # None is the library's absent value
        message = message.replace(f"pass {param}", f"pass {flag}")
    return message


def score_command(args: argparse.Namespace) -> dict:
    from unshuffle.fragments.bags.truth import score_solution_folder

    scores = score_solution_folder(args.solution, args.truth, args.fragments, args.rotations)
    if args.out:
        from unshuffle.fragments.bags.solution_io import write_scores

        write_scores(args.out, scores)
    clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in scores.items()}
    print(json.dumps(clean, indent=1))
    return scores


def report_command(args: argparse.Namespace) -> str:
    from unshuffle.fragments.bags.solution_io import read_solution_folder
    from unshuffle.fragments.bags.solution_report import write_solution_report

    read_solution_folder(args.solution)  # a damaged groups.json is named before anything is written
    scores = None
    if args.truth is not None:
        from unshuffle.fragments.bags.truth import score_solution_folder

        scores = score_solution_folder(args.solution, args.truth, args.fragments, args.rotations)
    path = write_solution_report(args.solution, scores)
    print(f"report: {path}")
    return str(path)


def bench_command(args: argparse.Namespace) -> dict:
    from unshuffle.fragments.bench import BenchConfig, run_bench

    cfg = BenchConfig(data=args.data, conditions=tuple(args.conditions), methods=tuple(args.methods),
                      samples=args.samples, images_per_sample=args.images_per_sample, grid=args.grid,
                      image_size=args.image_size, seed=args.seed, ae_ckpt=args.ae_ckpt,
                      warmup=args.warmup, out=args.out)
    result = run_bench(cfg)
    print(f"wrote {cfg.out}/results.md, results.json, pictures/ ({len(result['rows'])} rows)")
    return result
