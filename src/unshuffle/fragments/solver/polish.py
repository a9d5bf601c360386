"""Segment shifting inside a full frame: move whole best-buddy segments, refill the rest, keep what the seams prefer.

After a layout fills its frame (``grow.grow_region`` or the merging placer), the pieces joined to
their layout neighbours by best-buddy seams form *segments* (connected components; Pomeranz et al.
2011). A segment that is right inside but sits at the wrong offset (a band shifted sideways across
a flat region, a block that ran into the frame's edge) cannot be fixed one piece at a time. Each
round tries, for the largest segments after the biggest (the anchor, never moved), every offset
inside the frame that overlaps no larger segment (the ``MAX_OFFSETS`` forming most best-buddy
seams with the larger segments when there are more), plus no move at all; smaller segments in the
way and every piece outside a segment of ``MIN_SEGMENT`` pieces are taken out and put back by the
growing placer inside the frame (the most confident cell first). The candidate with the most
best-buddy seams, then the highest mean compatibility (``grow.buddy_seams``), replaces the layout
when it beats it; rounds go on while one does, until ``WORK`` times the layout's pieces have been
refilled. A layout whose largest segment holds less than ``MIN_ANCHOR`` of its pieces is scrambled
beyond shifting and left alone (it would be regrown whole on every try).
"""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.cells import components
from unshuffle.fragments.solver.grow import FLOOR, OPPOSITE, SIDES, PieceTables, buddy_seams, grow, taken

MIN_SEGMENT = 4  # pieces: smaller best-buddy components are loose, refilled every try
MAX_SEGMENTS = 4  # segments moved per round, largest first after the anchor
MAX_OFFSETS = 8  # offsets tried per segment (the most best-buddy seams with larger segments first)
MAX_ROUNDS = 3
MIN_ANCHOR = 0.2  # share of the pieces the largest segment must hold: a scrambled layout is left as it is
WORK = 24  # at most this many times the layout's pieces are refilled in all (bounds a scrambled layout's cost)
SEGMENT_MARGINS = (0.0, 0.2)  # segments are found twice: any best-buddy seam joins, then only those whose
# dissimilarity is this far below both sides' second best (a flat seam can join a shifted band to the rest)

Cells = dict[tuple[int, int], int]


def segments(tab: PieceTables, region: Cells, margin: float = 0.0) -> list[list[tuple[int, int]]]:
    """Cells of each best-buddy component of a layout (neighbours joined by a mutual best match on
    the facing sides, their dissimilarity below ``1 - margin`` times both sides' second best), largest
    first (ties: the top-left cell first)."""
    joined = []
    for (r, c), a in region.items():
        for s in (1, 3):  # right, below
            nb = (r + SIDES[s][0], c + SIDES[s][1])
            x = region.get(nb)
            if x is None or tab.best[s, a] != x or tab.best[OPPOSITE[s], x] != a:
                continue
            d = float(tab.cost[s, a, x])
            if d < (1.0 - margin) * min(float(tab.second[s, a]), float(tab.second[OPPOSITE[s], x])):
                joined.append((nb, (r, c)))
    return sorted(components(sorted(region), joined), key=lambda cs: (-len(cs), cs[0]))


def _offsets(tab: PieceTables, region: Cells, seg: list, larger: Cells, box: tuple[int, int, int, int]
             ) -> list[tuple[int, int]]:
    """Offsets (dr, dc) != (0, 0) keeping ``seg`` inside ``box`` and off the ``larger`` cells, those
    forming most best-buddy seams (then the highest summed compatibility) with ``larger`` first."""
    rows = [r for r, _ in seg]
    cols = [c for _, c in seg]
    ranked = []
    for dr in range(box[0] - min(rows), box[1] - max(rows) + 1):
        for dc in range(box[2] - min(cols), box[3] - max(cols) + 1):
            if (dr, dc) == (0, 0) or any((r + dr, c + dc) in larger for r, c in seg):
                continue
            bud, comp = 0, 0.0
            for r, c in seg:
                x = region[(r, c)]
                for s, (sr, sc) in enumerate(SIDES):  # a larger segment's piece a on side OPPOSITE[s] of x
                    a = larger.get((r + dr - sr, c + dc - sc))
                    if a is None:
                        continue
                    bud += int(tab.best[s, a] == x and tab.best[OPPOSITE[s], x] == a)
                    comp += 1.0 - float(tab.cost[s, a, x]) / max(float(tab.second[s, a]), FLOOR)
            ranked.append((-bud, -comp, dr, dc))
    ranked.sort()
    return [(dr, dc) for _, _, dr, dc in ranked[:MAX_OFFSETS]]


def _refill(tab: PieceTables, fixed: Cells, n_cells: int, box: tuple[int, int, int, int], own: np.ndarray
            ) -> Cells | None:
    """``fixed`` completed inside ``box`` by the growing placer from the layout's own fragments it lacks
    (own: (P,) bool, the pieces of the layout's fragments; pieces of other groups are never drawn in),
    None when the growth leaves cells empty."""
    avail = taken(tab, own.copy(), fixed)
    out = grow(tab, fixed, avail, frame=(box[1] - box[0] + 1, box[3] - box[2] + 1), window=box)
    return out if len(out) == n_cells else None


def polish_region(tab: PieceTables, region: Cells) -> tuple[Cells, dict]:
    """A layout filling its bounding box, its segments shifted while that adds best-buddy seams (or,
    as many, raises the mean compatibility); other layouts are returned unchanged. Returns (layout,
    {"rounds", "moves": [[segment size, dr, dc]], "before", "after": (best-buddy seams, mean
    compatibility)})."""
    rows = [r for r, _ in region]
    cols = [c for _, c in region]
    box = (min(rows), max(rows), min(cols), max(cols))
    n = len(region)
    key = buddy_seams(tab, region)
    info = {"rounds": 0, "moves": [], "before": [key[0], round(key[1], 4)]}
    if n != (box[1] - box[0] + 1) * (box[3] - box[2] + 1) or n < 2 * MIN_SEGMENT:
        info["after"] = info["before"]
        return region, info
    anchor = len(segments(tab, region)[0])
    info["anchor"] = anchor
    if anchor < MIN_ANCHOR * n:
        info["after"] = info["before"]
        return region, info
    work = WORK * n
    own = np.isin(tab.owner, tab.owner[list(region.values())])  # every turn of the layout's fragments
    for _ in range(MAX_ROUNDS):
        if work < 0:
            break
        info["rounds"] += 1
        tries, seen = [], set()
        for margin in SEGMENT_MARGINS:
            big = [s for s in segments(tab, region, margin) if len(s) >= MIN_SEGMENT]
            tries += [(big, None, (0, 0))] if big else []
            for k in range(1, min(len(big), MAX_SEGMENTS + 1)):
                larger = {rc: region[rc] for s in big[:k] for rc in s}
                for off in _offsets(tab, region, big[k], larger, box):
                    if (big[k][0], len(big[k]), off) not in seen:
                        seen.add((big[k][0], len(big[k]), off))
                        tries.append((big, k, off))
        best = None
        for big, k, (dr, dc) in tries:
            moved = {} if k is None else {(r + dr, c + dc): region[(r, c)] for r, c in big[k]}
            fixed = dict(moved)
            for j, seg in enumerate(big):
                if j != k and not any(rc in moved for rc in seg):
                    fixed.update({rc: region[rc] for rc in seg})
            work -= n - len(fixed)
            if work < 0:
                break
            new = _refill(tab, fixed, n, box, own)
            if new is None:
                continue
            got = buddy_seams(tab, new)
            if got > key and (best is None or got > best[0]):
                best = (got, new, [0 if k is None else len(big[k]), dr, dc])
        if best is None:
            break
        key, region = best[0], best[1]
        info["moves"].append(best[2])
    info["after"] = [key[0], round(key[1], 4)]
    return region, info
