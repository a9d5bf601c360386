"""Misfit relocation: a piece that clashes with all its neighbours moves to a hole of any group where it fits.

When the image count is estimated, a group can end up holding a few pieces of another image (glued on where
nothing better was left) while that image's group keeps the matching holes. Such a piece's seams are far
worse than the second-best partner of its neighbours (normalised compatibility well below zero) and it fits
a hole elsewhere: it is moved there, the best gain first, one piece at a time, so that a cell freed by one
move can take the next piece. A piece alone in its group counts as a misfit with no seams at all.
"""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.grow import OPPOSITE, SEAM_CAP, SIDES, PieceTables
from unshuffle.fragments.solver.placement import Assembler

MISFIT_FIT = -1.0  # a piece whose mean seam compatibility with its neighbours is below this may move
HOLE_FIT = 0.0  # ... into an empty cell (inside a group's bounding box, at least two neighbours) where its
# mean compatibility is at least this
MIN_GAIN = 1.5  # ... and at least this much higher than where it is


def seam_fit(tab: PieceTables, cells: dict[tuple[int, int], int], r: int, c: int, piece: int,
             skip: int | None = None) -> tuple[float, int]:
    """(mean normalised compatibility, neighbours) of ``piece`` in cell (r, c) of a region (cell ->
    piece), each seam the mean of both directions (capped at ``-SEAM_CAP``); the piece ``skip`` is
    ignored (the mover's own cell). (nan, 0) without neighbours."""
    total, n = 0.0, 0
    for s in range(4):
        a = cells.get((r + SIDES[s][0], c + SIDES[s][1]))
        if a is None or a == skip:
            continue
        seam = tab.compatibility_of(OPPOSITE[s], a, piece) + tab.compatibility_of(s, piece, a)
        total += max(0.5 * float(seam), -SEAM_CAP)
        n += 1
    return (total / n if n else float("nan")), n


def _regions(tab: PieceTables, asm: Assembler, turned: bool) -> dict[int, dict[tuple[int, int], int]]:
    """Each cluster as cell -> piece (``4 f + t`` when the tables hold turned pieces)."""
    return {h: {(r, c): 4 * f + t if turned else f for f, (r, c, t) in cl.pos.items()}
            for h, cl in asm.clusters.items()}


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


def relocate_misfits(tab: PieceTables, asm: Assembler, max_moves: int | None = None) -> list[list[int]]:
    """Move misfits (see the module) into holes, best gain first, until none qualifies or after
    ``max_moves`` (default: the number of pieces). Updates ``asm`` in place (a group left empty is
    dropped). Returns the moves as [fragment, from cluster, to cluster, row, col, turn]."""
    turned = len(tab.owner) > len(asm.owner)
    regions = _regions(tab, asm, turned)
    turns = range(4) if turned else (0,)
    moves: list[list[int]] = []
    for _ in range(len(asm.owner) if max_moves is None else max_moves):
        misfits = []
        for h, region in regions.items():
            for (r, c), p in region.items():
                fit, n = seam_fit(tab, region, r, c, p)
                if n == 0 and len(region) == 1:
                    misfits.append((-np.inf, h, r, c, p))
                elif n and fit < MISFIT_FIT:
                    misfits.append((fit, h, r, c, p))
        if not misfits:
            break
        holes = [(h, rc) for h, region in regions.items() if len(region) > 1 for rc in _holes(region)]
        best = None
        for fit, h, r, c, p in misfits:
            f = int(tab.owner[p])
            for g, (hr, hc) in holes:
                for t in turns:
                    q = 4 * f + t if turned else f
                    got, n = seam_fit(tab, regions[g], hr, hc, q, skip=p if g == h else None)
                    if n >= 2 and got >= HOLE_FIT and got - fit >= MIN_GAIN:
                        key = (got - fit if np.isfinite(fit) else got + SEAM_CAP, -f, -g, -hr, -hc, -t)
                        if best is None or key > best[0]:
                            best = (key, h, (r, c), g, (hr, hc), q)
        if best is None:
            break
        _, h, cell, g, hole, q = best
        del regions[h][cell]
        regions[g][hole] = q
        if not regions[h]:
            del regions[h]
        f = int(tab.owner[q])
        moves.append([f, h, g, hole[0], hole[1], int(tab.turn[q])])
    if moves:
        _store(asm, tab, regions)
    return moves


def _store(asm: Assembler, tab: PieceTables, regions: dict[int, dict[tuple[int, int], int]]) -> None:
    """Write the regions back into ``asm``'s clusters (ids kept; emptied clusters removed)."""
    for h in list(asm.clusters):
        if h not in regions:
            del asm.clusters[h]
    for h, region in regions.items():
        cl = asm.clusters[h]
        cl.pos, cl.cells = {}, {}
        for (r, c), p in region.items():
            f = int(tab.owner[p])
            cl.pos[f] = (r, c, int(tab.turn[p]))
            cl.cells[(r, c)] = f
            asm.owner[f] = h
        rc = np.array(list(region))
        cl.box = (int(rc[:, 0].min()), int(rc[:, 0].max()), int(rc[:, 1].min()), int(rc[:, 1].max()))
