"""The solver's rotations="auto" decision on bench bags: how often it is right, and its ARI beside the explicit flag.

Bags are the bench's (FragmentSampler seed 0, damage seed 0, bag i), so the explicit-flag column
repeats the bench's solver cell. Prints a markdown table and writes JSON (with the code version).

    python benchmarks/turn_detection.py --data /path/to/tiny-imagenet-200/val.tar.gz --samples 1000 \\
        --conditions clean rotation --out results/fragments-bench/turn-detection.json
    python benchmarks/turn_detection.py --puzzles /path/to/mit_432 /path/to/mcgill_540 --piece 28 \\
        --out results/fragments-bench/turn-detection-puzzles.json

With ``--puzzles``, every image of the folders is cut into square pieces (cropped to a multiple of
``--piece``), once upright (Type 1) and once with every piece turned at random (Type 2, seeded by
the image's position), and only the decision is made (the solve is left to the puzzle benchmark).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from unshuffle.evaluation.placement import score_solution
from unshuffle.fragments.bags.damage import apply_damage, parse_condition
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.bench import open_bench_data
from unshuffle.fragments.solver.fragment_solver import FragmentSolver
from unshuffle.runs.atomic import atomic_write_json
from unshuffle.runs.measure import code_version


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None)
    p.add_argument("--puzzles", nargs="+", default=None, metavar="DIR", help="folders of whole puzzle images")
    p.add_argument("--piece", type=int, default=28)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--conditions", nargs="+", default=["clean", "rotation"])
    p.add_argument("--images-per-sample", type=int, default=10)
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    args.code = code_version()  # the code that runs, taken before the (long) run
    if args.puzzles:
        return puzzles(args)
    from threadpoolctl import threadpool_limits

    images = open_bench_data(args.data)
    sampler = FragmentSampler(images, args.images_per_sample, args.grid, seed=0)
    rows, wrong = [], {}
    for spec in args.conditions:
        cond = parse_condition(spec)
        right, ari_auto, ari_flag, t_auto, t_flag, bad = 0, [], [], [], [], []
        for i in range(args.samples):
            bag = apply_damage(sampler.sample(i), cond, 0, i)
            n, g = (None, None) if cond.unknown_n else (args.images_per_sample, args.grid)
            with threadpool_limits(1):
                t0 = time.process_time()
                auto = FragmentSolver(n_images=n, grid=g, rotations="auto", seed=i)
                sol = auto.solve(bag.fragments)
                t_auto.append(time.process_time() - t0)
                t0 = time.process_time()
                flag = FragmentSolver(n_images=n, grid=g, rotations=cond.rotation, seed=i).solve(bag.fragments)
                t_flag.append(time.process_time() - t0)
            right += auto.rotations_ == cond.rotation
            if auto.rotations_ != cond.rotation:
                bad.append({"bag": i, "evidence": auto.turn_evidence_})
            ari_auto.append(score_solution(bag, sol, rotations=cond.rotation)["ari"])
            ari_flag.append(score_solution(bag, flag, rotations=cond.rotation)["ari"])
        rows.append({"condition": cond.name, "samples": args.samples, "decision_right": right / args.samples,
                     "ari_auto": float(np.mean(ari_auto)), "ari_flag": float(np.mean(ari_flag)),
                     "median_cpu_s_auto": float(np.median(t_auto)), "median_cpu_s_flag": float(np.median(t_flag))})
        wrong[cond.name] = bad
    print("| condition | bags | decision right | ARI auto | ARI explicit flag | median CPU s auto | flag |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['condition']} | {r['samples']} | {100 * r['decision_right']:.1f}% | {r['ari_auto']:.4f} | "
              f"{r['ari_flag']:.4f} | {r['median_cpu_s_auto']:.4f} | {r['median_cpu_s_flag']:.4f} |")
    if args.out:
        atomic_write_json(args.out, {"rows": rows, "wrong_decisions": wrong, "data": args.data,
                                     "code": args.code, "command": vars(args)})
    return 0


def puzzles(args) -> int:
    """The decision on Type 1 and Type 2 cuts of every image in ``args.puzzles``."""
    from pathlib import Path

    from unshuffle.data import open_images
    from unshuffle.fragments.solver.turns import decide_turns

    rows = []
    for folder in args.puzzles:
        ds = open_images(folder)
        for k, name in enumerate(ds.names):
            img = ds.image(k)
            s = args.piece
            rows_, cols = img.shape[0] // s, img.shape[1] // s
            pieces = img[: rows_ * s, : cols * s].reshape(rows_, s, cols, s, 3).transpose(0, 2, 1, 3, 4)
            pieces = pieces.reshape(-1, s, s, 3)
            rng = np.random.default_rng([k, 2])
            for kind in ("type1", "type2"):
                frags = pieces if kind == "type1" else np.stack(
                    [np.rot90(f, int(q)) for f, q in zip(pieces, rng.integers(0, 4, len(pieces)), strict=True)])
                frags = np.ascontiguousarray(frags[rng.permutation(len(frags))])
                t0 = time.process_time()
                turned, evidence = decide_turns(FragmentSolver(rotations="auto"), frags, {})
                rows.append({"set": Path(folder).name, "image": name, "type": kind, "pieces": len(frags),
                             "decided_turned": bool(turned), "right": bool(turned) == (kind == "type2"),
                             "cpu_s": time.process_time() - t0, "evidence": evidence})
    for kind in ("type1", "type2"):
        sel = [r for r in rows if r["type"] == kind]
        print(f"{kind}: decision right on {sum(r['right'] for r in sel)} of {len(sel)} puzzles; wrong: "
              f"{[(r['set'], r['image']) for r in sel if not r['right']]}")
    if args.out:
        atomic_write_json(args.out, {"rows": rows, "code": args.code, "command": vars(args)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
