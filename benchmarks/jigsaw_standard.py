"""The field's jigsaw protocols on folders of whole images: Type 1 / Type 2, one puzzle per bag, or mixed bags.

Each image is cropped to a multiple of ``--piece``, cut into square pieces, shuffled (and for Type 2
each piece turned at random), seeded by the image's position. Single puzzles are solved with the
count given (``n_images=1``) and the dimensions not given; mixed bags (``--mix K``) draw K images
without replacement from all folders with a fixed seed and give nothing. Every puzzle runs in a child
process with one BLAS thread and a wall-clock limit (``--timeout``; a puzzle over it scores 0); CPU
seconds and peak memory are the child's. Under Type 2 strict D, shiftable D and N each take their own best quarter
turn of the group's canvas (``evaluation.puzzles``). Prints the table beside the published rows and writes JSON.

    python benchmarks/jigsaw_standard.py /path/to/mit_432 /path/to/mcgill_540 --type 1 --out t1.json
    python benchmarks/jigsaw_standard.py /path/to/mit_432 /path/to/mcgill_540 --mix 3 --bags 20 --out mix3.json
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np

PUBLISHED = {  # (set, type): (method, D %, N %, perfect / 20), from the sets' README (papers' tables)
    ("mit_432", 1): ("Andalo et al. 2017 (PSQP), dimensions given", 96.0, 95.6, 13),
    ("mcgill_540", 1): ("Sholomon et al. 2013, dimensions given", 91.6, 95.4, 8),
    ("mit_432", 2): ("Gallagher 2012 (MGC)", 82.2, 90.4, 9),
}


PROTOCOL = {  # printed with the table
    False: "Type 1 (orientation known); strict D = pieces at their true cell from the group's top-left; shiftable D "
           "after the one best shift; N = true right/below pairs kept.",
    True: "Type 2 (unknown turns); strict D, shiftable D and N each after their own best quarter turn of the "
          "group's canvas (shiftable D: its best turn and shift), so the three may use different turns.",
}


def cut(img: np.ndarray, piece: int, turned: bool, seed: list[int]):
    """(pieces (M, s, s, 3) shuffled, truth rows, cols, turns) of one image."""
    rows, cols = img.shape[0] // piece, img.shape[1] // piece
    p = img[: rows * piece, : cols * piece].reshape(rows, piece, cols, piece, 3).transpose(0, 2, 1, 3, 4)
    p = p.reshape(-1, piece, piece, 3)
    r, c = np.divmod(np.arange(rows * cols), cols)
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 4, len(p)) if turned else np.zeros(len(p), np.int64)
    p = np.stack([np.rot90(f, -int(q)) for f, q in zip(p, k, strict=True)])  # stored = turned back by k
    order = rng.permutation(len(p))
    return np.ascontiguousarray(p[order]), r[order], c[order], k[order]


def _child(queue, fragments, n_images, rotations, placer="auto"):
    from threadpoolctl import threadpool_limits

    from unshuffle.fragments.solver.fragment_solver import FragmentSolver

    with threadpool_limits(1):
        t0 = time.process_time()
        sol = FragmentSolver(n_images=n_images, rotations=rotations, placer=placer).solve(fragments)
        cpu = time.process_time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux reports KiB)
    kept = ("placer", "placer_chosen", "placer_used", "seams", "groups_kept")  # groups_kept: polish moves too
    extra = {k: v for k, v in sol.settings.items() if k in kept}
    queue.put((sol.group, sol.row, sol.col, sol.turn, sol.shapes, cpu, peak, sol.settings.get("grid"), extra))


def solve_with_limit(fragments, n_images, rotations, timeout, placer="auto"):
    """The solution arrays, CPU seconds and peak MB of a child process, or None past ``timeout``."""
    queue = mp.get_context("fork").Queue()
    proc = mp.get_context("fork").Process(target=_child, args=(queue, fragments, n_images, rotations, placer))
    t0 = time.time()
    proc.start()
    try:
        out = queue.get(timeout=timeout)
    except Exception:  # queue.Empty past the limit: the puzzle scores 0, the child is stopped
        out = None
    proc.join(timeout=1)
    if proc.is_alive():
        proc.kill()
        proc.join()
    return out, time.time() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+")
    p.add_argument("--type", type=int, choices=(1, 2), default=1)
    p.add_argument("--piece", type=int, default=28)
    p.add_argument("--mix", type=int, default=0, help="images per mixed bag (0: one puzzle per bag)")
    p.add_argument("--bags", type=int, default=20)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--limit", type=int, default=None, help="only the first N images of each folder")
    p.add_argument("--placer", default="auto", help="FragmentSolver placer: auto (the default), greedy, grow or best")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    from unshuffle.data import open_images
    from unshuffle.evaluation.metrics import grouping_scores
    from unshuffle.evaluation.puzzles import puzzle_scores, summarise
    from unshuffle.runs.atomic import atomic_write_json
    from unshuffle.runs.measure import code_version

    code = code_version()  # the code that runs, taken before the (long) run
    images = []  # (set, name, image)
    for folder in args.folders:
        ds = open_images(folder)
        for k in range(len(ds) if args.limit is None else min(args.limit, len(ds))):
            images.append((Path(folder).name, ds.names[k], ds.image(k)))
    rotations = args.type == 2
    if args.mix:
        rng = np.random.default_rng([args.mix, 11])
        bags = [sorted(rng.choice(len(images), args.mix, replace=False).tolist()) for _ in range(args.bags)]
    else:
        bags = [[i] for i in range(len(images))]
    rows = []
    for b, members in enumerate(bags):
        parts = [cut(images[i][2], args.piece, rotations, [i, args.type]) for i in members]
        frags = np.concatenate([q[0] for q in parts])
        src = np.concatenate([np.full(len(q[0]), j) for j, q in enumerate(parts)])
        order = np.random.default_rng([b, 5]).permutation(len(frags))
        frags, src = frags[order], src[order]
        r, c, k = (np.concatenate([q[n] for q in parts])[order] for n in (1, 2, 3))
        out, wall = solve_with_limit(frags, 1 if not args.mix else None, rotations, args.timeout, args.placer)
        names = [f"{images[i][0]}/{images[i][1]}" for i in members]
        if out is None:
            per = [{"image": j, "direct": 0.0, "shiftable": 0.0, "neighbour": 0.0, "perfect": False}
                   for j in range(len(members))]
            row = {"bag": b, "images": names, "timed_out": True, "wall_s": wall, "per_image": per}
        else:
            group, prow, pcol, pturn, shapes, cpu, peak, frame, extra = out
            per = puzzle_scores(src, r, c, k, group, prow, pcol, pturn, shapes, rotations)
            row = {"bag": b, "images": names, "timed_out": False, "pieces": len(frags), "cpu_s": cpu,
                   "peak_mb": peak, "wall_s": wall, "frame": frame,
                   "truth_grid": [int(r.max()) + 1, int(c.max()) + 1] if len(members) == 1 else None,
                   "groups": int(group.max()) + 1, "per_image": per,
                   "ari": grouping_scores(src, group)["ari"] if args.mix else None, **extra}
        rows.append(row)
        how = "TIMEOUT" if out is None else f"{row['cpu_s']:.1f} s cpu, {row['groups']} groups, frame {row['frame']}"
        print(f"{b}: {names[0] if len(names) == 1 else names} D {np.mean([q['direct'] for q in per]):.3f} "
              f"shiftable {np.mean([q['shiftable'] for q in per]):.3f} "
              f"N {np.mean([q['neighbour'] for q in per]):.3f} {how}", flush=True)
    print(f"\nProtocol: {PROTOCOL[rotations]}")
    print("\n| set | type | images | strict D | shiftable D | N | perfect | median CPU s | max CPU s | timeouts |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for set_name in sorted({s for s, _, _ in images}) if not args.mix else ["mixed"]:
        sel = [r for r in rows if args.mix or r["images"][0].startswith(set_name + "/")]
        per = [q for r in sel for q in r["per_image"]]
        s = summarise(per)
        cpus = [r["cpu_s"] for r in sel if not r["timed_out"]]
        summary[set_name] = {**s, "median_cpu_s": float(np.median(cpus)) if cpus else None,
                             "max_cpu_s": float(np.max(cpus)) if cpus else None,
                             "timeouts": sum(r["timed_out"] for r in sel)}
        if args.mix:
            summary[set_name]["ari"] = float(np.mean([r["ari"] or 0.0 for r in sel]))
            summary[set_name]["count_exact"] = float(np.mean([r.get("groups") == args.mix for r in sel]))
        q = summary[set_name]
        print(f"| {set_name} | {args.type} | {s['images']} | {100 * s['direct']:.1f} | {100 * s['shiftable']:.1f} | "
              f"{100 * s['neighbour']:.1f} | {s['perfect']} | {q['median_cpu_s']} | {q['max_cpu_s']} | "
              f"{q['timeouts']} |")
        pub = PUBLISHED.get((set_name, args.type))
        if pub:
            print(f"| {set_name} published: {pub[0]} | {args.type} | 20 | {pub[1]} | - | {pub[2]} | {pub[3]} | | | |")
    if args.out:
        atomic_write_json(args.out, {"summary": summary, "rows": rows, "code": code,
                                     "command": vars(args)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
