"""Issue 4's fragment bench suites (conditions, large bags, other shapes, demo photos) on one command.

Each suite is one ``unshuffle fragments bench`` run (same library call) written to
``<out-root>/<suite>/``; cells already finished there are skipped, so the script can be stopped and
rerun. Single-threaded by design (the bench also limits BLAS/torch to one thread itself).

    nice -n 10 python benchmarks/fragments_bench.py --suite standard --samples 100
    nice -n 10 python benchmarks/fragments_bench.py --suite large1000 demo
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402

TINY_VAL = "/work/shared/data/tiny-imagenet-200/val.tar.gz"
CONDITIONS = ("clean", "noise", "jpeg", "eroded", "rotation", "missing", "missing+unknown-n")
BASELINES = ("kmeans", "random")

# suite -> (BenchConfig fields, default samples)
SUITES: dict[str, tuple[dict, int]] = {
    "standard": (dict(data=TINY_VAL, conditions=CONDITIONS, images_per_sample=10, grid=4), 1000),
    "large100": (dict(data=TINY_VAL, conditions=("clean",), images_per_sample=100, grid=4), 100),
    "large1000": (dict(data=TINY_VAL, conditions=("clean",), images_per_sample=1000, grid=4, warmup=False), 5),
    "shape32": (dict(data=TINY_VAL, conditions=("clean", "rotation"), images_per_sample=10, grid=4,
                     image_size=32), 200),
    "shape128": (dict(data=TINY_VAL, conditions=("clean", "rotation"), images_per_sample=10, grid=8,
                      image_size=128), 100),
    "demo": (dict(data="demo", conditions=("clean", "rotation", "missing+unknown-n"), images_per_sample=8,
                  grid=4, image_size=64), 20),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suite", nargs="+", choices=sorted(SUITES), default=["standard"])
    p.add_argument("--samples", type=int, default=None, help="override every suite's sample count")
    p.add_argument("--methods", nargs="+", default=None,
                   help="default: solver, autoencoder (with --ae-ckpt), kmeans, random (large1000: solver, random)")
    p.add_argument("--conditions", nargs="+", default=None, help="override the suite's conditions")
    p.add_argument("--ae-ckpt", default=None)
    p.add_argument("--data", default=None, help=f"override the data path (default {TINY_VAL})")
    p.add_argument("--out-root", default="results/fragments-bench")
    args = p.parse_args(argv)

    from unshuffle.fragments.bench import BenchConfig, run_bench

    for name in args.suite:
        fields, samples = SUITES[name]
        methods = args.methods or (("solver", "random") if name == "large1000" else
                                   ("solver", *(("autoencoder",) if args.ae_ckpt else ()), *BASELINES))
        fields = {**fields, "samples": args.samples or samples, "methods": tuple(methods),
                  "ae_ckpt": args.ae_ckpt, "out": os.path.join(args.out_root, name)}
        if args.conditions:
            fields["conditions"] = tuple(args.conditions)
        if args.data and fields["data"] != "demo":
            fields["data"] = args.data
        print(f"== suite {name}: {fields}", file=sys.stderr)
        run_bench(BenchConfig(**fields))
        print(open(os.path.join(fields["out"], "results.md")).read())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
