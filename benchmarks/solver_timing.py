"""Median seconds per bag of FragmentSolver on clean bags: wall clock and CPU time of this process.

On a shared box the wall clock of the bench includes time spent waiting for a core; the CPU time of
the process (``time.process_time``, one BLAS thread) is what a dedicated core would take. Prints both
and writes JSON.

    OMP_NUM_THREADS=1 python benchmarks/solver_timing.py DATA --samples 100 --out timing.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from unshuffle.data import open_images
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.solver.fragment_solver import FragmentSolver
from unshuffle.runs.measure import code_version


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--images", type=int, default=10)
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    sampler = FragmentSampler(open_images(args.data), args.images, args.grid, args.seed)
    bags = [sampler.sample(i) for i in range(args.samples)]
    FragmentSolver(n_images=args.images, grid=args.grid).solve(bags[0].fragments)  # warm-up, untimed
    wall, cpu = [], []
    for bag in bags:
        w0, c0 = time.perf_counter(), time.process_time()
        FragmentSolver(n_images=args.images, grid=args.grid).solve(bag.fragments)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    res = {"samples": args.samples, "median_wall_s": float(np.median(wall)), "median_cpu_s": float(np.median(cpu)),
           "load_average": os.getloadavg(), "omp_threads": os.environ.get("OMP_NUM_THREADS"), **code_version()}
    print(f"median wall {1000 * res['median_wall_s']:.1f} ms, median CPU {1000 * res['median_cpu_s']:.1f} ms "
          f"over {args.samples} clean bags (load average {res['load_average'][0]:.2f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
