"""Misfit relocation: a piece that clashes with all its neighbours moves to a hole of any group where it fits.

When the image count is estimated, a group can end up holding a few pieces of another image (glued on where
nothing better was left) while that image's group keeps the matching holes. Such a piece's seams are far
worse than the second-best partner of its neighbours (normalised compatibility well below zero) and it fits
a hole elsewhere: it is moved there, the best gain first, one piece at a time, so that a cell freed by one
move can take the next piece. A piece alone in its group counts as a misfit with no seams at all.
"""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.grow import SEAM_CAP, SIDES, PieceTables, add_region, region_of
from unshuffle.fragments.solver.placement import Assembler

MISFIT_FIT = -1.0  # a piece whose mean seam compatibility with its neighbours is below this may move
HOLE_FIT = 0.0  # ... into an empty cell (inside a group's bounding box, at least two neighbours) where its
# mean compatibility is at least this
MIN_GAIN = 1.5  # ... and at least this much higher than where it is


def seam_fit(tab: PieceTables, cells: dict[tuple[int, int], int], r: int, c: int, piece: int) -> tuple[float, int]:
    """(mean normalised compatibility, neighbours) of ``piece`` in cell (r, c) of a region (cell ->
    piece), each seam the mean of both directions (capped at ``-SEAM_CAP``); (nan, 0) without neighbours."""
    fit, n = seam_fits(tab, cells, (r, c), np.array([piece]), np.array([-1]))
    return (float(fit[0]) if n[0] else float("nan")), int(n[0])


def _holes(region: dict[tuple[int, int], int]) -> list[tuple[int, int]]:
    """Empty cells inside the region's bounding box with at least two placed neighbours."""
    rc = np.array(list(region))
    (r0, c0), (r1, c1) = rc.min(axis=0), rc.max(axis=0)
    out = []
    for r in range(r0, r1 + 1):
        for c in range(c0, c1 + 1):
            if (r, c) not in region and sum((r + dr, c + dc) in region for dr, dc in SIDES) >= 2:
                out.append((r, c))
    return out


def seam_fits(tab: PieceTables, region: dict[tuple[int, int], int], cell: tuple[int, int], cand: np.ndarray,
              mover: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`seam_fit` of every candidate piece ``cand`` (K,) in ``cell`` of ``region`` at once, each
    skipping its own ``mover`` piece (K,) where that is a neighbour (-1: none): (fits (K,), neighbours (K,);
    a fit is 0 without neighbours)."""
    total = np.zeros(len(cand))
    count = np.zeros(len(cand), np.int64)
    for s in range(4):
        a = region.get((cell[0] + SIDES[s][0], cell[1] + SIDES[s][1]))
        if a is None:
            continue
        term = tab.seam_fit(cand, np.full(len(cand), a), np.full(len(cand), s))  # a on side s of each candidate
        keep = mover != a
        total += np.where(keep, term, 0.0)
        count += keep
    return total / np.maximum(count, 1), count


def relocate_misfits(tab: PieceTables, asm: Assembler, max_moves: int | None = None) -> list[list[int]]:
    """Move misfits (see the module) into holes, best gain first, until none qualifies or after
    ``max_moves`` (default: the holes and lone pieces there were at the start). Updates ``asm`` in place
    (a group left empty is dropped; moved pieces keep their trust). Returns the moves as [fragment, from
    cluster, to cluster, row, col, turn]."""
    turned = len(tab.owner) > len(asm.owner)
    regions = {h: region_of(cl, turned) for h, cl in asm.clusters.items()}
    turns = np.arange(4) if turned else np.zeros(1, np.int64)
    holes = {h: _holes(region) for h, region in regions.items() if len(region) > 1}
    if max_moves is None:
        max_moves = sum(map(len, holes.values())) + sum(len(r) == 1 for r in regions.values())
    found = {h: _misfits(tab, h, region) for h, region in regions.items()}  # only moves change them
    moves: list[list[int]] = []
    for _ in range(max_moves):
        misfits = [m for h in regions for m in found[h]]
        if not misfits or not any(holes.values()):
            break
        fit = np.repeat([m[0] for m in misfits], len(turns))
        mover = np.repeat([m[3] for m in misfits], len(turns))
        frag = tab.owner[mover]
        cand = 4 * frag + np.tile(turns, len(misfits)) if turned else frag
        best = None
        for g in sorted(holes):
            for cell in holes[g]:
                got, n = seam_fits(tab, regions[g], cell, cand, mover)
                gain = np.where(np.isfinite(fit), got - fit, got + SEAM_CAP)
                ok = (n >= 2) & (got >= HOLE_FIT) & (got - fit >= MIN_GAIN)
                if ok.any():
                    k = int(np.argmax(np.where(ok, gain, -np.inf)))
                    if best is None or gain[k] > best[0]:
                        best = (float(gain[k]), k, g, cell)
        if best is None:
            break
        _, k, g, hole = best
        _, h, cell, _ = misfits[k // len(turns)]
        q = int(cand[k])
        del regions[h][cell]
        regions[g][hole] = q
        if not regions[h]:
            del regions[h]
        for x in {h, g} & set(regions):  # holes and misfits change only in the two groups touched
            holes[x] = _holes(regions[x]) if len(regions[x]) > 1 else []
            found[x] = _misfits(tab, x, regions[x])
        holes = {x: v for x, v in holes.items() if x in regions}
        moves.append([int(tab.owner[q]), h, g, hole[0], hole[1], int(tab.turn[q])])
    if moves:
        _store(asm, tab, regions)
    return moves


def _misfits(tab: PieceTables, h: int, region: dict[tuple[int, int], int]) -> list[tuple]:
    """(fit, cluster, cell, piece) of each misfit of cluster ``h``: seam fit below ``MISFIT_FIT``, or alone."""
    out = []
    for (r, c), p in region.items():
        fit, n = seam_fit(tab, region, r, c, p)
        if n == 0 and len(region) == 1:
            out.append((-np.inf, h, (r, c), p))
        elif n and fit < MISFIT_FIT:
            out.append((fit, h, (r, c), p))
    return out


def _store(asm: Assembler, tab: PieceTables, regions: dict[int, dict[tuple[int, int], int]]) -> None:
    """Write the regions back into ``asm``'s clusters (ids kept; emptied clusters removed)."""
    asm.clusters = {}
    for h, region in regions.items():
        add_region(asm, tab, region, h)
