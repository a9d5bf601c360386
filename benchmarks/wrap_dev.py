"""Development check of the cyclic-wrap correction (``fragments/solver/wrap.py``) on dev photos, never the test sets.

Each photo (optionally cropped so that its right edge continues into something like its left edge,
``--crop``: 80 % of the width, the offset whose next pixel column is closest to its first) is cut and
solved with ``placer="auto"`` and the wrap correction switched off (``regrow.WRAP = False``), keeping
the piece tables and the final layout of the image. Then, with those tables: the true layout must be
left alone; 12 rolled copies of it (4 column rolls, 4 column rolls with the two parts at different
heights, 4 of the same with rows and columns exchanged, drawn with a seed from the photo) must be
relaid exactly; and the solver's final layout is corrected, with strict D (best quarter turn under
Type 2) before and after. Writes one JSON line per puzzle and a summary.

    python benchmarks/wrap_dev.py --folder /path/to/kodak --piece 20 --type 1 --out wrap_kodak.json
    python benchmarks/wrap_dev.py --crop --piece 20 --type 1 2 --out wrap_crops_skimage.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jigsaw_standard import cut  # noqa: E402
from puzzle_dev import photos  # noqa: E402


def look_alike_crop(img: np.ndarray, piece: int) -> np.ndarray:
    """The 80 %-wide crop whose next pixel column is closest to its first (its edges join plausibly)."""
    f = img.astype(np.float64)
    w = int(0.8 * img.shape[1]) // piece * piece
    x0 = int(np.argmin([np.abs(f[:, x] - f[:, x + w]).mean() for x in range(img.shape[1] - w)]))
    return np.ascontiguousarray(img[:, x0:x0 + w])


def rolled_copies(truth: np.ndarray, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """12 torus relayouts of a true grid: plain column rolls, two column parts at different heights,
    two row parts at different column offsets (each then rolled as a whole)."""
    h, w = truth.shape
    out = []
    for kind in ("roll", "band", "rowband"):
        for _ in range(4):
            if kind == "rowband":
                a, dx = int(rng.integers(1, h)), int(rng.integers(0, w))
                g = np.roll(np.concatenate([truth[a:], np.roll(truth[:a], dx, axis=1)]), int(rng.integers(0, w)), 1)
            else:
                a, dy = int(rng.integers(1, w)), int(rng.integers(0, h)) if kind == "band" else 0
                g = np.concatenate([truth[:, a:], np.roll(truth[:, :a], dy, axis=0)], axis=1)
                g = np.roll(g, int(rng.integers(0, h)), axis=0)
            out.append((kind, g))
    return out


def _grid(cells: dict) -> np.ndarray:
    rc = np.array(list(cells))
    g = np.full(rc.max(axis=0) - rc.min(axis=0) + 1, -1)
    for (r, c), p in cells.items():
        g[r - rc[:, 0].min(), c - rc[:, 1].min()] = p
    return g


def _strict(g: np.ndarray, truth: np.ndarray, turned: bool) -> float:
    """Share of cells holding their true piece (piece 4 f + t under Type 2), best quarter turn of the grid."""
    best = 0.0
    for q in range(4) if turned else (0,):
        for sign in (1, -1) if turned else (1,):
            h = np.rot90(g, q)
            h = 4 * (h // 4) + (h % 4 + sign * q) % 4 if turned else h
            best = max(best, float((h == truth).mean())) if h.shape == truth.shape else best
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", default=None, help="a folder of images instead of the scikit-image photos")
    p.add_argument("--crop", action="store_true", help="look-alike-edge crops of the photos")
    p.add_argument("--piece", type=int, nargs="+", default=[20])
    p.add_argument("--type", type=int, nargs="+", choices=(1, 2), default=[1])
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from unshuffle.fragments.solver import regrow, wrap
    from unshuffle.fragments.solver.fragment_solver import FragmentSolver
    from unshuffle.runs.atomic import atomic_write_json
    from unshuffle.runs.measure import code_version

    code = code_version()
    seen: dict = {}
    polish = regrow.polish_region

    def keep(tab, region):  # the tables and the layout regrow_groups keeps, after polish
        out, info = polish(tab, region)
        seen.update(tab=tab, layout=out)
        return out, info

    regrow.polish_region, regrow.WRAP = keep, False
    rows = []
    for i, (name, img) in enumerate(photos(args.folder)):
        for piece in args.piece:
            for typ in args.type:
                turned = typ == 2
                frags, r, c, k = cut(look_alike_crop(img, piece) if args.crop else img, piece, turned, [i, typ])
                seen.clear()
                with threadpool_limits(1):
                    FragmentSolver(n_images=1, rotations=turned).solve(frags)
                if "tab" not in seen:  # under 100 pieces: the merging placer alone
                    continue
                tab = seen["tab"]
                truth = np.full((int(r.max()) + 1, int(c.max()) + 1), -1)
                truth[r, c] = 4 * np.arange(len(frags)) + k if turned else np.arange(len(frags))
                cells = {(a, b): int(truth[a, b]) for a in range(truth.shape[0]) for b in range(truth.shape[1])}
                t0 = time.process_time()
                got, info = wrap.wrap_region(tab, cells)
                cpu = time.process_time() - t0
                restored, gains = 0, []
                for _, g in rolled_copies(truth, np.random.default_rng([i, piece, typ])):
                    new, inf = wrap.wrap_region(tab, {(a, b): int(g[a, b]) for a in range(g.shape[0])
                                                      for b in range(g.shape[1])})
                    ok = np.array_equal(_grid(new), truth)
                    restored += ok
                    gains += [inf["moves"][0][4]] if ok and inf["moves"] else []
                final, inf = wrap.wrap_region(tab, seen["layout"])
                row = {"image": name, "piece": piece, "type": typ, "pieces": len(frags),
                       "true_layout_kept": got == cells, "true_rejected": info.get("rejected"),
                       "restored": restored, "rolled": 12, "min_restoring_gain": min(gains) if gains else None,
                       "wrap_cpu_s": cpu, "final_moves": inf["moves"], "final_rejected": inf.get("rejected"),
                       "final_strict_before": _strict(_grid(seen["layout"]), truth, turned),
                       "final_strict_after": _strict(_grid(final), truth, turned)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    summary = {"puzzles": len(rows), "true_layouts_kept": sum(q["true_layout_kept"] for q in rows),
               "restored": sum(q["restored"] for q in rows), "rolled": 12 * len(rows),
               "min_restoring_gain": min((q["min_restoring_gain"] for q in rows if q["min_restoring_gain"]),
                                         default=None),
               "final_layouts_moved": sum(bool(q["final_moves"]) for q in rows), "margin": wrap.MARGIN}
    print(json.dumps(summary))
    atomic_write_json(args.out, {"summary": summary, "rows": rows, "code": code, "command": vars(args)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
