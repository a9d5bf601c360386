"""Time and memory of FragmentSolver on one large Tiny-ImageNet *train* bag (N images, 4x4 grid)."""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from unshuffle.data.imageset import from_array
from unshuffle.evaluation.metrics import ari
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.solver.fragment_solver import FragmentSolver


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--unknown", action="store_true", help="do not pass N and grid")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    imgs = np.load(".cache/data/solver_dev_train3000.npy")
    bag = FragmentSampler(from_array(imgs), args.n, 4, seed=7).sample(0)
    solver = FragmentSolver(None if args.unknown else args.n, None if args.unknown else 4)
    t = time.perf_counter()
    sol = solver.solve(bag.fragments)
    dt = time.perf_counter() - t
    sol.validate(len(bag))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"N={args.n} M={len(bag)} threads={args.threads} time {dt:.1f} s  ARI {ari(bag.source, sol.group):.4f}  "
          f"N est {solver.n_images_}  peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
