"""Block relocation: a block of pieces glued to the wrong group along a weak seam moves to the group it fits.

When the image count is estimated, the merging placer can glue a whole band or block of one image to
another image's group (the top rows of one photo under the bottom edge of another), the seam between them
bad all along, while the block's own image keeps the gap it left. Misfit relocation (``relocate.py``) moves
pieces one by one, each whose mean seam fit with its neighbours is bad, so a block, whose pieces fit each
other, stays.

Here each group is cut along its weak seams, at straight lines across it and around blocks of pieces that
fit each other; a part whose seams to the rest of its group are bad on average, and whose pieces are best
buddies (mutual best partners) with pieces of one other group far more often than with the rest of their
own, moves to that group; both groups are then laid out again from their pieces (``regrow_groups``), and
the search starts over, the clearest part first.
"""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.cells import components
from unshuffle.fragments.solver.grow import PieceTables, add_region, region_of, region_seams
from unshuffle.fragments.solver.placement import Assembler
from unshuffle.fragments.solver.regrow import regrow_groups

CUT_FIT = -2.0  # a part's seams to the rest of its group average below this (a true image's worst full
# line averaged -0.9 on the traced development bags; a glued band -9)
BLOCK_PARTS = True  # besides straight cuts, blocks of linked pieces are parts
LINK_FIT = 0.0  # two neighbours belong to one block when their seam fit is at least this
MIN_PIECES = 2  # a part holds at least this many pieces (single pieces: ``relocate.py``)
MAX_SHARE = 0.5  # ... and at most this share of its group
MIN_BUDDIES = 3  # it moves when its pieces are best buddies with pieces of one other group this many times
BUDDY_RATIO = 3.0  # ... and this many times as many as with the rest of its own group (2: a block of two
# photos' pieces moved on the development bags)
BUDDY_SHARE = 0.5  # ... and at least half as many as it has seams to the rest of its own group (a band that
# belongs beside a group pairs with it along most of the join; a flat sky row of one photo paired with another's
# top row 7 times in 27 on a development bag)
MAX_MOVES = 8  # per bag (each move regrows two groups; the development bags made at most 5)
MAX_UNDONE = 3  # moves tried and undone (their layouts not better) before the search stops (each costs two
# regrows: at 8, one development bag took 85 CPU s instead of 7)


def _links(tab: PieceTables, region: dict[tuple[int, int], int]) -> tuple[list, np.ndarray]:
    """The region's seams: [(cell, cell right of or below it)] and their fits (K,)."""
    pairs = [((r, c), (r + dr, c + dc)) for (r, c) in region for dr, dc in ((0, 1), (1, 0))
             if (r + dr, c + dc) in region]
    if not pairs:
        return [], np.zeros(0)
    a = np.array([region[p] for p, _ in pairs])
    b = np.array([region[q] for _, q in pairs])
    side = np.array([1 if p[0] == q[0] else 3 for p, q in pairs])
    return pairs, tab.seam_fit(a, b, side)


def weak_parts(tab: PieceTables, region: dict[tuple[int, int], int]) -> list[tuple[frozenset, float, int]]:
    """Parts of a region that may belong elsewhere, as (cells, mean fit of their seams to the rest, number
    of those seams), worst first: the smaller side of each straight line across it, and each block of
    pieces linked by seams of at least ``LINK_FIT``, whose seams to the rest average below ``CUT_FIT``
    (sizes within the module's limits)."""
    pairs, fits = _links(tab, region)
    limit = MAX_SHARE * len(region)
    out: dict[frozenset, tuple[float, int]] = {}
    index = {cell: i for i, cell in enumerate(region)}
    ends = np.array([[index[p], index[q]] for p, q in pairs], np.int64).reshape(-1, 2)

    def consider(part: frozenset) -> None:
        if MIN_PIECES <= len(part) <= limit and part not in out:
            inside = np.zeros(len(region), dtype=bool)
            inside[[index[c] for c in part]] = True
            cut = fits[inside[ends[:, 0]] != inside[ends[:, 1]]]
            if len(cut) and float(np.mean(cut)) < CUT_FIT:
                out[part] = (float(np.mean(cut)), len(cut))

    for axis in (0, 1):
        lines: dict[int, list[float]] = {}
        for (p, q), fit in zip(pairs, fits, strict=True):
            if p[axis] != q[axis]:
                lines.setdefault(p[axis], []).append(fit)
        for line, got in lines.items():
            if np.mean(got) < CUT_FIT:
                low = frozenset(c for c in region if c[axis] <= line)
                consider(min(low, frozenset(region) - low, key=len))
    if BLOCK_PARTS:
        for cells in components(list(region), [pq for pq, fit in zip(pairs, fits, strict=True) if fit >= LINK_FIT]):
            consider(frozenset(cells))
    return sorted(((k, *v) for k, v in out.items()), key=lambda kv: kv[1])


def best_move(tab: PieceTables, regions: dict[int, dict[tuple[int, int], int]], buddies: np.ndarray,
              parts: dict[int, list], cells_max: float) -> tuple | None:
    """The part with the clearest claim to move (the most best-buddy relations, mutual best partners on a
    side whether or not they touch in the layout, with pieces of another group beyond those with the rest
    of its own; pieces in weak parts not counted) to a group it leaves within ``cells_max`` pieces: (that
    margin, from, to, cells, cut fit, [buddies there, buddies at home]), or None."""
    where = {p: g for g, region in regions.items() for p in region.values()}
    for g, found in parts.items():  # a group's own weak parts do not vouch for it (they may be strays too)
        for cells, _, _ in found:
            for c in cells:
                where.pop(regions[g][c], None)
    best = None
    for g, found in parts.items():
        for cells, cut, n_cut in found:
            pieces = {regions[g][c] for c in cells}
            count: dict[int, int] = {}
            for p in pieces:
                for s in np.flatnonzero(buddies[:, p]):
                    q = int(tab.best[s, p])
                    if q not in pieces and q in where:
                        count[where[q]] = count.get(where[q], 0) + 1
            home = count.pop(g, 0)
            if not count:
                continue
            t = max(count, key=count.get)
            if (count[t] >= max(MIN_BUDDIES, BUDDY_SHARE * n_cut) and count[t] >= BUDDY_RATIO * home
                    and len(regions[t]) + len(cells) <= cells_max):
                if best is None or count[t] - home > best[0]:
                    best = (count[t] - home, g, t, cells, cut, [count[t], home])
    return best


def _inside(region: dict[tuple[int, int], int], frame: tuple[int, int] | None) -> bool:
    """Whether the region's extent fits ``frame`` either way round (None: no limit)."""
    if frame is None:
        return True
    rc = np.array(list(region))
    rows, cols = rc.max(axis=0) - rc.min(axis=0) + 1
    return bool((rows <= frame[0] and cols <= frame[1]) or (rows <= frame[1] and cols <= frame[0]))


def move_blocks(tab: PieceTables, asm: Assembler, frame: tuple[int, int] | None, slack: float,
                grid: tuple[int, int] | None = None, max_moves: int = MAX_MOVES) -> dict:
    """Move weak parts (see the module) between the clusters of ``asm``, each move followed by laying out
    the two clusters again (``regrow_groups`` with ``slack`` and the ``grid`` given, if one was) and kept
    only when the two layouts then have at least half the claimed best-buddy seams more (and
    ``MIN_BUDDIES``) and both lie inside the ``frame`` (either way round; None: no limit), whose cells a
    group never outnumbers. Unturned pieces only (a turned bag's groups each grew in their own turn).
    ``asm`` is updated in place. Returns the moves and the number of moves tried and undone."""
    if len(tab.owner) > len(asm.owner):
        return {"moves": [], "undone": 0}
    regions = {h: region_of(cl, False) for h, cl in asm.clusters.items()}
    buddies = tab.buddies()
    parts = {h: weak_parts(tab, region) for h, region in regions.items() if len(region) >= 2 * MIN_PIECES}
    cells_max = np.inf if frame is None else frame[0] * frame[1]
    moves: list[dict] = []
    undone = 0
    for _ in range(max_moves + MAX_UNDONE):
        best = best_move(tab, regions, buddies, parts, cells_max)
        if best is None or len(moves) >= max_moves:
            break
        gain, g, t, cells, cut, counts = best
        parts[g] = [p for p in parts[g] if p[0] != cells]  # tried once
        before = region_seams(tab, regions[g])[0] + region_seams(tab, regions[t])[0]
        trial = {g: dict(regions[g]), t: dict(regions[t])}
        r0 = max(r for r, _ in trial[t]) + 1 - min(r for r, _ in cells)
        for r, c in cells:  # parked in rows below the host's (no collision): both are grown again next
            trial[t][(r + r0, c)] = trial[g].pop((r, c))
        sub = Assembler(len(asm.owner), None, asm.rotations)
        sub.clusters, sub.trust = {}, asm.trust
        for h in (g, t):
            add_region(sub, tab, trial[h], h)
        new, _ = regrow_groups(tab, sub, asm.rotations, grid, slack)
        grown = dict(zip((g, t), (region_of(cl, False) for cl in new.clusters.values()), strict=True))
        after = region_seams(tab, grown[g])[0] + region_seams(tab, grown[t])[0]
        if after - before < max(MIN_BUDDIES, 0.5 * gain) or not all(_inside(grown[h], frame) for h in (g, t)):
            undone += 1
            if undone >= MAX_UNDONE:
                break
            continue
        asm.trust = new.trust
        regions.update(grown)
        moves.append({"pieces": len(cells), "from": g, "to": t, "cut_fit": round(cut, 3), "buddies": counts,
                      "buddy_seams": [before, after]})
        for h in (g, t):
            parts[h] = weak_parts(tab, regions[h]) if len(regions[h]) >= 2 * MIN_PIECES else []
    if moves:
        asm.clusters = {}
        for h, region in regions.items():
            add_region(asm, tab, region, h)
    return {"moves": moves, "undone": undone}
