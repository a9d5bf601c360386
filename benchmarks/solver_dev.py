"""Quick development checks of FragmentSolver on Tiny-ImageNet *train* bags (never val)."""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from unshuffle.data.imageset import from_array
from unshuffle.evaluation.metrics import ari
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.solver.fragment_solver import FragmentSolver


def damage(bag, cond: str, rng: np.random.Generator):
    """Apply simple inline damage: noise, jpeg, erode, rot, missing (comma-separated)."""
    fr, turn = bag.fragments.copy(), np.zeros(len(bag), np.int64)
    keep = np.arange(len(bag))
    for c in cond.split(","):
        if c == "noise":
            fr = np.clip(np.round(fr + rng.normal(0, 8, fr.shape)), 0, 255).astype(np.uint8)
        elif c == "jpeg":
            out = []
            for f in fr:
                buf = io.BytesIO()
                Image.fromarray(f).save(buf, format="JPEG", quality=75)
                out.append(np.asarray(Image.open(buf).convert("RGB")))
            fr = np.stack(out)
        elif c == "erode":
            fr = np.ascontiguousarray(fr[:, 1:-1, 1:-1])
        elif c == "rot":
            k = rng.integers(0, 4, len(fr))
            fr = np.stack([np.rot90(f, kk) for f, kk in zip(fr, k, strict=True)])
            turn = (-k) % 4
        elif c == "missing":
            keep = np.sort(rng.choice(len(bag), int(round(0.8 * len(bag))), replace=False))
    return fr[keep], keep, turn[keep]


def placement_ok(bag, keep, sol, rotations: bool, turn: np.ndarray | None = None) -> np.ndarray:
    """(M,) bool: fragment's group is its image's majority group and its cell/turn is right up to
    one shift (and one quarter turn) per group."""
    src, row, col = bag.source[keep], bag.row[keep], bag.col[keep]
    ok = np.zeros(len(keep), bool)
    g = bag.grid[0]
    for s in np.unique(src):
        idx = np.where(src == s)[0]
        best = None
        for grp in np.unique(sol.group[idx]):
            for rho in (range(4) if rotations else [0]):
                # turn true coordinates by rho, compare offsets
                r, c = row[idx], col[idx]
                for _ in range(rho):
                    r, c = g - 1 - c, r
                dr = sol.row[idx] - r
                dc = sol.col[idx] - c
                m = sol.group[idx] == grp
                if turn is not None:
                    m &= sol.turn[idx] == (turn[idx] + rho) % 4
                keys = list(zip(dr[m], dc[m], strict=True))
                if not keys:
                    continue
                vals, cnt = np.unique(np.array(keys), axis=0, return_counts=True)
                sh = vals[np.argmax(cnt)]
                good = m & (dr == sh[0]) & (dc == sh[1])
                if best is None or good.sum() > best.sum():
                    best = good
        ok[idx] = best
    return ok


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cond", default="clean")
    p.add_argument("--samples", type=int, default=50)
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--known", action="store_true", help="pass true N and grid")
    p.add_argument("--known-grid", action="store_true", help="pass the true grid only")
    p.add_argument("--measure", default="prediction")
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--placer", default="greedy")
    p.add_argument("--edge-max-score", type=float, default=0.9)
    p.add_argument("--max-seam", type=float, default=1.0)
    p.add_argument("--eps", default="auto")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--no-loops", action="store_true")
    p.add_argument("--min-trust", type=float, default=0.3)
    args = p.parse_args()
    torch.set_num_threads(1)
    imgs = np.load(".cache/data/solver_dev_train3000.npy")
    sampler = FragmentSampler(from_array(imgs), args.n, 4, seed=123)
    rot = "rot" in args.cond
    aris, perfect, times, nexact, placed, confs, corrects = [], [], [], [], [], [], []
    for i in range(args.samples):
        bag = sampler.sample(i)
        fr, keep, true_turn = damage(bag, args.cond, np.random.default_rng(i))
        solver = FragmentSolver(n_images=args.n if args.known else None,
                                grid=4 if args.known or args.known_grid else None,
                                rotations=rot, measure=args.measure, k=args.k, placer=args.placer,
                                edge_max_score=args.edge_max_score, max_seam=args.max_seam,
                                loops=not args.no_loops, min_trust=args.min_trust,
                                eps=args.eps if args.eps == "auto" else float(args.eps))
        t = time.perf_counter()
        sol = solver.solve(fr)
        times.append(time.perf_counter() - t)
        sol.validate(len(fr))
        aris.append(ari(bag.source[keep], sol.group))
        nexact.append(solver.n_images_ == args.n)
        if args.verbose and solver.n_images_ != args.n:
            print(i, "N", solver.n_images_, "grid", solver.grid_)
        if sol.placed:
            ok = placement_ok(bag, keep, sol, rot, true_turn)
            placed.append(ok.mean())
            confs.append(sol.confidence)
            corrects.append(ok)
            src = bag.source[keep]
            perfect.append(np.mean([ok[src == s].all() for s in np.unique(src)]))
    auroc = float("nan")
    if confs and len(set(np.concatenate(corrects).tolist())) == 2:
        auroc = roc_auc_score(np.concatenate(corrects), np.concatenate(confs))
    print(f"AUROC(confidence, correct placement) {auroc:.3f}")
    print(f"{args.cond} known={args.known} known_grid={args.known_grid} measure={args.measure} "
          f"placer={args.placer} ems={args.edge_max_score} seam={args.max_seam} loops={not args.no_loops} "
          f"trust={args.min_trust} eps={args.eps} n={args.n}: "
          f"ARI {np.mean(aris):.4f} (min {np.min(aris):.3f})  "
          f"perfect {np.mean(perfect) if perfect else float('nan'):.3f}  "
          f"placed {np.mean(placed) if placed else float('nan'):.4f}  N exact {np.mean(nexact):.2f}  "
          f"median {1000 * np.median(times):.1f} ms")


if __name__ == "__main__":
    main()
