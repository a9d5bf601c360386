"""Upright: how often a reassembled image comes out upright, and what the upright step adds to a solve.

Bench bags of the rotation condition (FragmentSampler seed 0, damage seed 0, bag i, as the bench) are
solved with ``rotations=True, upright=False``; the upright step (``solver/upright.py``) is then timed
on its own (CPU seconds, one BLAS thread) and its share of the solve reported. Per source image: the
share upright among images assembled correctly, and among all (``evaluation.placement.image_upright``).
With ``--puzzles``, every photo of the folders is cut into ``--piece`` px pieces, each turned at random
(Type 2, seeded by the photo's position as in ``turn_detection.py``), solved as one image and turned upright;
the folder name ``skimage`` stands for scikit-image's natural photos at full size (astronaut, chelsea, coffee,
rocket, motorcycle: not a test set, for checking settings). With ``--whole`` the photos of ``--puzzles``
are not cut: each is given whole in its 4 turns to the upright model (the model apart from the assembler;
a photo counts as right per turn). ``load_wall_s`` is the wall time of loading the
model and building its trunk (ONNX Runtime session; ``onnx_cached`` says whether the export was on disk).

    python benchmarks/upright.py --data /path/to/tiny-imagenet-200/val.tar.gz --samples 1000 \\
        --out results/fragments-bench/upright.json
    python benchmarks/upright.py --puzzles /path/to/mit_432 /path/to/mcgill_540 --piece 28 \\
        --out results/fragments-bench/upright-puzzles.json
    python benchmarks/upright.py --whole --puzzles /path/to/mit_432 /path/to/mcgill_540 \\
        --out results/fragments-bench/upright-whole.json
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from unshuffle.evaluation.placement import image_upright, score_solution
from unshuffle.fragments.bags.damage import apply_damage, parse_condition
from unshuffle.fragments.bags.sampling import FragmentBag, FragmentSampler
from unshuffle.fragments.solver.fragment_solver import FragmentSolver
from unshuffle.fragments.solver.upright import make_upright, upright_model
from unshuffle.runs.atomic import atomic_write_json
from unshuffle.runs.measure import code_version


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None)
    p.add_argument("--puzzles", nargs="+", default=None, metavar="DIR", help="folders of whole puzzle images")
    p.add_argument("--piece", type=int, default=28)
    p.add_argument("--whole", action="store_true", help="with --puzzles: give each photo whole in its 4 turns")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--images-per-sample", type=int, default=10)
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("--model", default=None, help="upright model .npz (default: the shipped one)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    from unshuffle.fragments.learned.upright_backbone import cache_folder

    folder = cache_folder()  # both graphs a solve uses: the 64-px trunk with its head, the any-shape trunk
    cached = folder.is_dir() and any(folder.glob("upright-lite0-*-head-*.onnx")) and any(folder.glob("*-s0-*.onnx"))
    t0 = time.perf_counter()
    model = upright_model(args.model)
    model.logits(np.zeros((1, model.size, model.size, 3), np.float32))  # the trunk with its head (small groups)
    model.trunk(any_shape=True)  # and the any-shape trunk (large groups)
    load = {"load_wall_s": time.perf_counter() - t0, "onnx_cached": cached}
    print(f"model load + trunk build: {load['load_wall_s']:.2f} s wall (ONNX export cached before: {cached})")
    if args.whole and not args.puzzles:
        p.error("--whole needs --puzzles folders")
    rows = (whole(args, model) if args.whole else puzzles(args, model)) if args.puzzles else bench(args, model)
    if args.out:
        atomic_write_json(args.out, {"rows": rows, "code": code_version(), "command": vars(args),
                                     "model_arch": model.arch(), "model_meta": model.meta, **load,
                                     "loadavg": list(os.getloadavg())})
    return 0


def _solve(fragments: np.ndarray, model, **kw):
    """(turned solution, upright-step info, solve CPU s, upright-step CPU s) with one BLAS thread."""
    with threadpool_limits(1):
        t0 = time.process_time()
        sol = FragmentSolver(rotations=True, upright=False, **kw).solve(fragments)
        t1 = time.process_time()
        turned, info = make_upright(fragments, sol, model)
        t2 = time.process_time()
    return turned, info, t1 - t0, t2 - t1


def bench(args, model) -> list[dict]:
    """Rotation-condition bench bags: upright share per source image and the step's added time."""
    from unshuffle.fragments.bench import open_bench_data

    sampler = FragmentSampler(open_bench_data(args.data), args.images_per_sample, args.grid, seed=0)
    cond = parse_condition("rotation")
    up, done, t_solve, t_up, frag_up = [], [], [], [], []
    for i in range(args.samples):
        bag = apply_damage(sampler.sample(i), cond, 0, i)
        sol, _, ts, tu = _solve(bag.fragments, model, n_images=args.images_per_sample, grid=args.grid, seed=i)
        per = image_upright(bag, sol, rotations=True)
        up.append(per["upright"])
        done.append(per["assembled"])
        frag_up.append(score_solution(bag, sol, rotations=True)["upright_accuracy"])
        t_solve.append(ts)
        t_up.append(tu)
    up, done = np.concatenate(up), np.concatenate(done)
    row = {"set": "rotation bench", "bags": args.samples, "images": int(up.size), "assembled": int(done.sum()),
           "upright_assembled": float(up[done].mean()), "upright_all": float(up.mean()),
           "upright_fragments": float(np.mean(frag_up)),
           "median_cpu_s_solve": float(np.median(t_solve)), "median_cpu_s_upright": float(np.median(t_up)),
           "added_share_of_solve": float(np.sum(t_up) / np.sum(t_solve))}
    _print([row])
    return [row]


def _cut(img: np.ndarray, s: int, k: int) -> FragmentBag:
    """Type 2 puzzle of one photo: s px pieces, each turned at random, shuffled (seeded by ``k``)."""
    rows, cols = img.shape[0] // s, img.shape[1] // s
    pieces = img[: rows * s, : cols * s].reshape(rows, s, cols, s, 3).transpose(0, 2, 1, 3, 4).reshape(-1, s, s, 3)
    rng = np.random.default_rng([k, 2])
    q = rng.integers(0, 4, len(pieces))
    frags = np.stack([np.rot90(f, int(t)) for f, t in zip(pieces, q, strict=True)])
    order = rng.permutation(len(frags))
    r, c = np.divmod(np.arange(len(pieces)), cols)
    return FragmentBag(np.ascontiguousarray(frags[order]), np.zeros(len(order), np.int64), r[order], c[order],
                       (-q[order]) % 4, np.zeros(1, np.int64), (rows, cols))


SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle")


def _photos(folder: str):
    """(names, image(k) -> (H, W, 3) uint8) of a folder, or of scikit-image's natural photos for ``skimage``."""
    if folder == "skimage":
        import skimage.data

        def image(k: int) -> np.ndarray:
            img = getattr(skimage.data, SKIMAGE_PHOTOS[k])()
            return np.ascontiguousarray(img[0] if isinstance(img, tuple) else img, dtype=np.uint8)

        return list(SKIMAGE_PHOTOS), image
    from unshuffle.data import open_images

    ds = open_images(folder)
    return ds.names, ds.image


def puzzles(args, model) -> list[dict]:
    """Every photo of ``args.puzzles`` as a Type 2 puzzle: upright or not, and the step's added time."""
    from pathlib import Path

    rows = []
    for folder in args.puzzles:
        names, image = _photos(folder)
        for k, name in enumerate(names):
            bag = _cut(image(k), args.piece, k)
            sol, info, ts, tu = _solve(bag.fragments, model, n_images=1)
            per = image_upright(bag, sol, rotations=True)
            scores = score_solution(bag, sol, rotations=True)
            rows.append({"set": Path(folder).name, "image": name, "pieces": len(bag),
                         "upright": bool(per["upright"][0]), "assembled": bool(per["assembled"][0]),
                         "placement_accuracy": scores["placement_accuracy"],
                         "upright_fragments": scores["upright_accuracy"], "turns": info["upright_turns"],
                         "scores": info["upright_scores"], "cpu_s_solve": ts, "cpu_s_upright": tu})
            print(f"{rows[-1]['set']} {name}: upright {rows[-1]['upright']} placement "
                  f"{scores['placement_accuracy']:.3f} solve {ts:.2f}s upright step {tu * 1000:.1f}ms", flush=True)
    up = np.array([r["upright"] for r in rows])
    done = np.array([r["assembled"] for r in rows])
    summary = {"set": "+".join(Path(f).name for f in args.puzzles), "images": len(rows), "assembled": int(done.sum()),
               "upright_all": float(up.mean()), "upright_assembled": float(up[done].mean()) if done.any() else None,
               "upright_fragments": float(np.mean([r["upright_fragments"] for r in rows])),
               "median_cpu_s_solve": float(np.median([r["cpu_s_solve"] for r in rows])),
               "median_cpu_s_upright": float(np.median([r["cpu_s_upright"] for r in rows])),
               "added_share_of_solve": float(sum(r["cpu_s_upright"] for r in rows)
                                             / sum(r["cpu_s_solve"] for r in rows))}
    _print([summary])
    return [summary, *rows]


def whole(args, model) -> list[dict]:
    """Every photo of ``args.puzzles`` given whole in each of its 4 turns: is the chosen turn the upright one?"""
    from pathlib import Path

    rows = []
    for folder in args.puzzles:
        names, image = _photos(folder)
        for k, name in enumerate(names):
            img = image(k)
            right, cpu = [], []
            for r in range(4):
                with threadpool_limits(1):
                    t0 = time.process_time()
                    q = int(model.turn_log_probs([np.ascontiguousarray(np.rot90(img, r))]).argmax())
                    cpu.append(time.process_time() - t0)
                right.append((r + q) % 4 == 0)
            rows.append({"set": Path(folder).name, "image": name, "shape": list(img.shape[:2]), "right": right,
                         "cpu_s": cpu})
            print(f"{rows[-1]['set']} {name} {img.shape[:2]}: right in turns {right}", flush=True)
    right = np.array([r["right"] for r in rows])
    by_set = {s: float(right[[r["set"] == s for r in rows]].mean()) for s in dict.fromkeys(r["set"] for r in rows)}
    summary = {"set": "+".join(Path(f).name for f in args.puzzles), "photos": len(rows),
               "turn_accuracy": float(right.mean()), "photos_right_in_all_4": int(right.all(axis=1).sum()),
               "by_set": by_set, "median_cpu_s": float(np.median([c for r in rows for c in r["cpu_s"]]))}
    print(summary)
    return [summary, *rows]


def _print(rows: list[dict]) -> None:
    print("| set | images | assembled | upright (assembled) | upright (all) | upright fragments | "
          "median solve CPU s | median upright CPU ms | added share |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ua = "-" if r["upright_assembled"] is None else f"{100 * r['upright_assembled']:.1f}%"
        print(f"| {r['set']} | {r['images']} | {r['assembled']} | {ua} | {100 * r['upright_all']:.1f}% | "
              f"{100 * r['upright_fragments']:.1f}% | {r['median_cpu_s_solve']:.4f} | "
              f"{1000 * r['median_cpu_s_upright']:.2f} | {100 * r['added_share_of_solve']:.1f}% |")


if __name__ == "__main__":
    raise SystemExit(main())
