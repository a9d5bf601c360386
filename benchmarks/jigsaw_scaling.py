"""Time and memory of the solver against the piece count: the standard images cut ever finer (Type 1).

Each of the first ``--images`` images of every folder is cut at every ``--pieces`` size (cropped to a
multiple), shuffled, and solved alone with ``n_images=1`` given and the dimensions not given, in a
child process with one BLAS thread (``jigsaw_standard.solve_with_limit``). Records pieces, CPU
seconds, peak memory and strict/shiftable D per puzzle, fits the log-log slope of time and memory
against pieces per folder, and draws both on log-log axes.

    python benchmarks/jigsaw_scaling.py /data/mit_432:28,14,7 /data/mcgill_540:28,14,10 --images 3 \\
        --out results/puzzles/scaling.json --plot results/puzzles/scaling.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jigsaw_standard import cut, solve_with_limit  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="FOLDER:PIECE,PIECE,... (piece sides in pixels)")
    p.add_argument("--images", type=int, default=3, help="the first N images of each folder")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--out", required=True)
    p.add_argument("--plot", default=None)
    args = p.parse_args(argv)
    from unshuffle.data import open_images
    from unshuffle.evaluation.puzzles import puzzle_scores
    from unshuffle.runs.atomic import atomic_write_json
    from unshuffle.runs.measure import code_version

    code = code_version()
    rows, fits = [], {}
    for spec in args.folders:
        folder, sizes = spec.rsplit(":", 1)
        ds = open_images(folder)
        set_name = Path(folder).name
        for piece in (int(v) for v in sizes.split(",")):
            for k in range(min(args.images, len(ds))):
                frags, r, c, t = cut(ds.image(k), piece, False, [k, 1])
                out, wall = solve_with_limit(frags, 1, False, args.timeout)
                row = {"set": set_name, "image": ds.names[k], "piece_px": piece, "pieces": len(frags),
                       "grid": [int(r.max()) + 1, int(c.max()) + 1], "wall_s": wall, "timed_out": out is None}
                if out is not None:
                    group, prow, pcol, pturn, shapes, cpu, peak, frame = out[:8]
                    sc = puzzle_scores(np.zeros(len(frags), np.int64), r, c, t, group, prow, pcol, pturn, shapes,
                                       False)[0]
                    row.update(cpu_s=cpu, peak_mb=peak, frame=frame, direct=sc["direct"], shiftable=sc["shiftable"])
                rows.append(row)
                print(f"{set_name}/{ds.names[k]} {piece} px {len(frags)} pieces: "
                      + ("TIMEOUT" if out is None else f"{row['cpu_s']:.1f} s, {row['peak_mb']:.0f} MB, "
                         f"D {row['direct']:.3f} shiftable {row['shiftable']:.3f}"), flush=True)
        done = [q for q in rows if q["set"] == set_name and not q["timed_out"]]
        x = np.log([q["pieces"] for q in done])
        fits[set_name] = {"time_slope": float(np.polyfit(x, np.log([q["cpu_s"] for q in done]), 1)[0]),
                          "memory_slope": float(np.polyfit(x, np.log([q["peak_mb"] for q in done]), 1)[0])}
        print(f"{set_name}: time ~ pieces^{fits[set_name]['time_slope']:.2f}, "
              f"peak memory ~ pieces^{fits[set_name]['memory_slope']:.2f}")
    atomic_write_json(args.out, {"rows": rows, "fits": fits, "code": code, "command": vars(args)})
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for set_name, marker in zip(fits, "os^v", strict=False):
            done = [q for q in rows if q["set"] == set_name and not q["timed_out"]]
            n = [q["pieces"] for q in done]
            for ax, key, slope in ((axes[0], "cpu_s", "time_slope"), (axes[1], "peak_mb", "memory_slope")):
                y = [q[key] for q in done]
                line = ax.loglog(n, y, marker, label=f"{set_name} (slope {fits[set_name][slope]:.2f})")[0]
                xs = np.array([min(n), max(n)], float)
                coef = np.polyfit(np.log(n), np.log(y), 1)
                ax.loglog(xs, np.exp(np.polyval(coef, np.log(xs))), "--", color=line.get_color(), alpha=0.6)
        for ax, label in ((axes[0], "CPU seconds (one thread)"), (axes[1], "peak memory, MB (child process)")):
            ax.set_xlabel("pieces")
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        fig.suptitle("FragmentSolver, Type 1, one puzzle per bag, dimensions not given")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
