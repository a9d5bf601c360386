"""FragmentSolver on the embedded scikit-image demo photos (unlike Tiny-ImageNet): ARI and perfect rate."""

from __future__ import annotations

import sys

import numpy as np
import torch

from unshuffle.data.embedded import demo_images
from unshuffle.evaluation.metrics import ari
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.solver.fragment_solver import FragmentSolver

sys.path.insert(0, "benchmarks")
from solver_dev import damage, placement_ok  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    for size, grid in ((64, 4), (128, 8)):
        images = demo_images(size)
        n = len(images)
        for cond, known in (("clean", True), ("clean", False), ("rot", True), ("missing", False)):
            aris, perfect = [], []
            for seed in range(5):
                bag = FragmentSampler(images, n, grid, seed=seed).sample(0)
                fr, keep, turn = damage(bag, cond, np.random.default_rng(seed))
                solver = FragmentSolver(n if known else None, grid if known else None, rotations=cond == "rot")
                sol = solver.solve(fr)
                ok = placement_ok(bag, keep, sol, cond == "rot", turn)
                src = bag.source[keep]
                aris.append(ari(src, sol.group))
                perfect.append(np.mean([ok[src == s].all() for s in np.unique(src)]))
            print(f"demo {size}px grid {grid} {cond} known={known}: ARI {np.mean(aris):.4f} "
                  f"perfect {np.mean(perfect):.3f} (5 shuffles of the {n} photos)")


if __name__ == "__main__":
    main()
