"""Edge retrieval by measure and damage: how often is a fragment's true right/lower neighbour its best match?

For bags of N images cut into g x g fragments (the bench's sampler and damage), every fragment with
a true right (lower) neighbour ranks all other fragments of the bag by each measure's
dissimilarity; the table gives top-1 accuracy per (condition, measure). This isolates the edge
measure from the placer. Prints a markdown table and writes JSON.

    python benchmarks/pair_retrieval.py DATA --pair-model runs/pair-v1/pair_model.npz --samples 20 --out x.json
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from unshuffle.data import open_images
from unshuffle.fragments.bags.damage import apply_damage, parse_condition
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.learned.pair_model import learned_features, load_pair_model
from unshuffle.fragments.solver import compatibility as compat


def _truth(bag, rel: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) index pairs with j the true right (rel 0) / lower (rel 1) neighbour of i."""
    where = {(int(s), int(r), int(c)): k for k, (s, r, c) in enumerate(zip(bag.source, bag.row, bag.col, strict=True))}
    dr, dc = (0, 1) if rel == compat.RIGHT else (1, 0)
    pairs = [(k, where[s, r + dr, c + dc]) for (s, r, c), k in where.items() if (s, r + dr, c + dc) in where]
    a = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return a[:, 0], a[:, 1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--pair-model", default=None, help="pair model .npz (default: the shipped one)")
    p.add_argument("--conditions", nargs="+", default=["clean", "noise", "jpeg", "eroded"])
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--images", type=int, default=10)
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("--weights", nargs="+", type=float, default=[0.5, 1.0, 2.0], help="hybrid learned weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    model = load_pair_model(args.pair_model)
    sampler = FragmentSampler(open_images(args.data), args.images, args.grid, args.seed)
    results = {}
    for spec in args.conditions:
        cond = parse_condition(spec)
        hits: dict[str, list[float]] = {}
        for i in range(args.samples):
            bag = apply_damage(sampler.sample(i), cond, args.seed, i)
            lab = compat.rgb_to_lab(bag.fragments)
            for rel in (compat.RIGHT, compat.DOWN):
                li, lj = _truth(bag, rel)
                view_lab = lab if rel == compat.RIGHT else lab.transpose(0, 2, 1, 3)
                view = bag.fragments if rel == compat.RIGHT else bag.fragments.transpose(0, 2, 1, 3)
                feats = {f"prediction eps={e:g}": compat.edge_features(view_lab, "prediction", e)
                         for e in (1.0, 10.0, 100.0)}
                for gap in (0, 1):
                    feats[f"learned gap={gap}"] = learned_features(model, view, gap)
                    for w in args.weights:
                        feats[f"hybrid eps=10 w={w:g} gap={gap}"] = compat.combine_features(
                            [(*feats["prediction eps=10"], 1.0), (*feats[f"learned gap={gap}"], w)])
                for name, (q, k) in feats.items():
                    d = compat.dissimilarity(q, k)
                    hits.setdefault(name, []).append(float((d[li].argmin(axis=1) == lj).mean()))
        results[spec] = {name: float(np.mean(v)) for name, v in hits.items()}
        print(f"{spec}: done", file=sys.stderr)
    names = list(next(iter(results.values())))
    print("| measure | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for n in names:
        print(f"| {n} | " + " | ".join(f"{100 * results[c][n]:.1f}%" for c in results) + " |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "top1": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
