"""Original beside reassembly for the worst, median and best image of each set in a jigsaw_standard JSON.

Images are ranked by strict D (then shiftable D); each chosen puzzle is cut and solved again exactly
as the benchmark did (same seeds, ``n_images=1``, dimensions not given) and drawn next to its
original, cells left empty in black. Writes one JPEG (quality 80) per chosen image.

    python benchmarks/jigsaw_pictures.py results/puzzles/type1.json /data/mit_432 /data/mcgill_540 \\
        --out results/puzzles/pictures
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jigsaw_standard import cut, solve_with_limit  # noqa: E402


def draw(frags: np.ndarray, row: np.ndarray, col: np.ndarray, turn: np.ndarray, group: np.ndarray,
         shape: tuple[int, int], g: int) -> np.ndarray:
    """Canvas (H*s, W*s, 3) uint8 of group ``g``: every piece of it turned upright by its ``turn``."""
    s = frags.shape[1]
    canvas = np.zeros((shape[0] * s, shape[1] * s, 3), np.uint8)
    for f in np.flatnonzero(group == g):
        canvas[row[f] * s:(row[f] + 1) * s, col[f] * s:(col[f] + 1) * s] = np.rot90(frags[f], turn[f])
    return canvas


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results")
    p.add_argument("folders", nargs="+")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from PIL import Image

    from unshuffle.data import open_images

    res = json.loads(Path(args.results).read_text())
    typ, piece = res["command"]["type"], res["command"]["piece"]
    images = []  # in the benchmark's order: its seeds are the positions
    for folder in args.folders:
        ds = open_images(folder)
        images += [(Path(folder).name, ds.names[k], ds.image(k)) for k in range(len(ds))]
    index = {f"{s}/{n}": i for i, (s, n, _) in enumerate(images)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for set_name in sorted({r["images"][0].split("/")[0] for r in res["rows"]}):
        rows = sorted((r for r in res["rows"] if r["images"][0].startswith(set_name + "/")),
                      key=lambda r: (r["per_image"][0]["direct"], r["per_image"][0]["shiftable"]))
        for label, r in (("worst", rows[0]), ("median", rows[len(rows) // 2]), ("best", rows[-1])):
            i = index[r["images"][0]]
            frags, *_ = cut(images[i][2], piece, typ == 2, [i, typ])
            order = np.random.default_rng([r["bag"], 5]).permutation(len(frags))
            frags = frags[order]
            got, _ = solve_with_limit(frags, 1, typ == 2, 600, res["command"].get("placer", "greedy"))
            group, row, col, turn, shapes = got[:5]
            g = int(np.bincount(group).argmax())
            pic = draw(frags, row, col, turn, group, shapes[g], g)
            rows_, cols_ = images[i][2].shape[0] // piece, images[i][2].shape[1] // piece
            orig = images[i][2][:rows_ * piece, :cols_ * piece]
            h = max(orig.shape[0], pic.shape[0])
            pad = [np.pad(a, ((0, h - a.shape[0]), (0, 0), (0, 0))) for a in (orig, pic)]
            both = np.concatenate([pad[0], np.full((h, piece // 2, 3), 255, np.uint8), pad[1]], axis=1)
            q = r["per_image"][0]
            name = f"type{typ}_{set_name}_{label}_{Path(images[i][1]).stem}.jpg"
            Image.fromarray(both).save(out / name, quality=80)
            print(f"{name}: strict D {q['direct']:.3f}, shiftable {q['shiftable']:.3f}, N {q['neighbour']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
