"""Development puzzles (never the test sets): scikit-image photos or a folder of images, cut, solved alone.

Each photo is cropped to a multiple of the piece size, cut, shuffled (Type 2: turned) with a seed from
its position, and solved in this process with one BLAS thread, ``n_images=1`` given and the
dimensions not given, once per placer. Prints strict / shiftable D, N and CPU seconds per puzzle and
the means, and writes JSON.

    python benchmarks/puzzle_dev.py --piece 28 20 --type 1 2 --placers greedy grow --out dev.json
    python benchmarks/puzzle_dev.py --folder /path/to/kodak --piece 16 --placers greedy grow
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jigsaw_standard import cut  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
          "stereo_motorcycle")


def photos(folder: str | None) -> list[tuple[str, np.ndarray]]:
    """(name, (H, W, 3) uint8) of the scikit-image photos, or of every image in ``folder``."""
    if folder is None:
        import skimage.data

        out = []
        for name in PHOTOS:
            img = getattr(skimage.data, name)()
            out.append((name, np.ascontiguousarray(img[0] if isinstance(img, tuple) else img, dtype=np.uint8)))
        return out
    from unshuffle.data import open_images

    ds = open_images(folder)
    return [(ds.names[k], ds.image(k)) for k in range(len(ds))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", default=None, help="a folder of images instead of the scikit-image photos")
    p.add_argument("--piece", type=int, nargs="+", default=[28])
    p.add_argument("--type", type=int, nargs="+", choices=(1, 2), default=[1])
    p.add_argument("--placers", nargs="+", default=["greedy", "grow"])
    p.add_argument("--only", nargs="*", default=None, help="only these image names")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from unshuffle.evaluation.puzzles import puzzle_scores
    from unshuffle.fragments.solver.fragment_solver import FragmentSolver
    from unshuffle.runs.atomic import atomic_write_json
    from unshuffle.runs.measure import code_version

    code = code_version()
    rows = []
    for i, (name, img) in enumerate(photos(args.folder)):
        if args.only and name not in args.only:
            continue
        for piece in args.piece:
            for typ in args.type:
                turned = typ == 2
                frags, r, c, k = cut(img, piece, turned, [i, typ])
                for placer in args.placers:
                    with threadpool_limits(1):
                        t0 = time.process_time()
                        sol = FragmentSolver(n_images=1, rotations=turned, placer=placer).solve(frags)
                        cpu = time.process_time() - t0
                    sc = puzzle_scores(np.zeros(len(frags), np.int64), r, c, k, sol.group, sol.row, sol.col,
                                       sol.turn, sol.shapes, turned)[0]
                    sc.pop("image", None)  # the scorer's image index (always 0 here) would hide the name
                    kept = ("placer_used", "seams", "regions", "groups_kept")
                    rows.append({"image": name, "piece": piece, "type": typ, "placer": placer, "pieces": len(frags),
                                 "truth": [int(r.max()) + 1, int(c.max()) + 1], "shape": list(sol.shapes[0]),
                                 "groups": int(sol.group.max()) + 1, "cpu_s": cpu, **sc,
                                 **{k: v for k, v in sol.settings.items() if k in kept}})
                    print(f"{name} {piece}px T{typ} {placer}: D {sc['direct']:.3f} shiftable {sc['shiftable']:.3f} "
                          f"N {sc['neighbour']:.3f} {len(frags)} pieces {cpu:.2f} s shape {sol.shapes[0]} "
                          f"truth {rows[-1]['truth']} {sol.settings.get('seams', '')}", flush=True)
    print("\n| placer | piece | type | puzzles | strict D | shiftable D | N | perfect | median CPU s | max CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for placer in args.placers:
        for piece in args.piece:
            for typ in args.type:
                sel = [q for q in rows if (q["placer"], q["piece"], q["type"]) == (placer, piece, typ)]
                if sel:
                    cpu = [q["cpu_s"] for q in sel]
                    print(f"| {placer} | {piece} | {typ} | {len(sel)} | {np.mean([q['direct'] for q in sel]):.3f} | "
                          f"{np.mean([q['shiftable'] for q in sel]):.3f} | {np.mean([q['neighbour'] for q in sel]):.3f}"
                          f" | {sum(q['perfect'] for q in sel)} | {np.median(cpu):.2f} | {np.max(cpu):.2f} |")
    if args.out:
        atomic_write_json(args.out, {"rows": rows, "code": code, "command": vars(args)})
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
