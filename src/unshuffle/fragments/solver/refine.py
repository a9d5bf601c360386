"""Trim and refill: take out the fragments joined by doubtful merges and put each back in its best cell.

The greedy phases cannot undo a merge. After them, every fragment moved by a merge of low quality
(``Assembler.trust``) is removed, and the removed fragments are re-inserted one at a time, always the
(fragment, turn, free cell) with the best seams against what is already placed, in any group
(Gallagher's trimming and filling, with the seam-evidence ranking of ``merging.py``). Dense score
tables are used, so this runs only for bags of a few thousand pieces.
"""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.merging import ADJ_BONUS
from unshuffle.fragments.solver.placement import Assembler


def dense_scores(query: np.ndarray, key: np.ndarray, row_second: np.ndarray, col_second: np.ndarray,
                 owner: np.ndarray) -> np.ndarray:
    """(P, P) normalised dissimilarity ``max(q.k, 0) / min(row_second, col_second)``, +inf between
    pieces of one fragment. query, key: (P, F); row_second, col_second, owner: (P,)."""
    d = np.maximum(query @ key.T, 0.0)
    ref = np.minimum(row_second[:, None], col_second[None, :])
    ref = np.where(np.isfinite(ref), ref, np.maximum(d, 1e-6))
    s = d / np.maximum(ref, 1e-6)
    s[owner[:, None] == owner[None, :]] = np.inf
    return s


def trim_and_fill(asm: Assembler, tables: list[np.ndarray], rotations: bool, min_trust: float) -> None:
    """Re-place every fragment whose trust is below ``min_trust`` (the best of each cluster stays).

    tables: dense (P, P) scores per relation from ``dense_scores`` (RIGHT, DOWN; RIGHT only under
    rotation, pieces ``4 * f + turn``).
    """
    removed = []
    for h in list(asm.clusters):
        cl = asm.clusters[h]
        weak = [f for f in cl.pos if asm.trust[f] < min_trust]
        if len(weak) == len(cl.pos):  # keep the most trusted fragment as the cluster's anchor
            weak.remove(max(weak, key=lambda f: (asm.trust[f], -f)))
        for f in weak:
            r, c, _ = cl.pos.pop(f)
            del cl.cells[(r, c)]
            removed.append(f)
        if weak:
            rows = [r for r, _ in cl.cells]
            cols = [c for _, c in cl.cells]
            cl.box = (min(rows), max(rows), min(cols), max(cols))
    if not removed:
        return
    turns = range(4) if rotations else (0,)
    cand_f = np.repeat(np.array(sorted(removed)), len(turns))
    cand_t = np.tile(np.array(list(turns)), len(removed))
    alive = np.ones(cand_f.shape[0], bool)
    while alive.any():
        best = _best_slot(asm, tables, rotations, cand_f, cand_t, alive, frame=True)
        if best is None:
            best = _best_slot(asm, tables, rotations, cand_f, cand_t, alive, frame=False)
        rank, cost, h, r, c, n = best
        f, t = int(cand_f[n]), int(cand_t[n])
        cl = asm.clusters[h]
        cl.pos[f] = (r, c, t)
        cl.cells[(r, c)] = f
        rmin, rmax, cmin, cmax = cl.box
        cl.box = (min(rmin, r), max(rmax, r), min(cmin, c), max(cmax, c))
        asm.owner[f] = h
        asm.trust[f] = 1.0 / (1.0 + cost)
        alive &= cand_f != f


def _best_slot(asm: Assembler, tables, rotations: bool, cand_f, cand_t, alive, frame: bool):
    """Best (rank, cost, cluster, row, col, candidate index) over free cells next to placed pieces."""
    best = None
    idx = np.nonzero(alive)[0]
    for h, cl in asm.clusters.items():
        rmin, rmax, cmin, cmax = cl.box
        slots = {(r + dr, c + dc) for r, c in cl.cells for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0))}
        for r, c in sorted(slots - cl.cells.keys()):
            if frame and asm.frame is not None and not asm._fits(min(rmin, r), max(rmax, r), min(cmin, c),
                                                                 max(cmax, c)):
                continue
            total = np.zeros(idx.shape[0])
            count = 0
            for dr, dc in ((0, -1), (0, 1), (-1, 0), (1, 0)):
                nb = cl.cells.get((r + dr, c + dc))
                if nb is None:
                    continue
                tn = cl.pos[nb][2]
                vertical = dr != 0
                if rotations:
                    spin = 1 if vertical else 0
                    nb_piece = 4 * nb + (tn + spin) % 4
                    me = 4 * cand_f[idx] + (cand_t[idx] + spin) % 4
                    table = tables[0]
                else:
                    nb_piece, me, table = nb, cand_f[idx], tables[1 if vertical else 0]
                total += table[nb_piece, me] if dr + dc < 0 else table[me, nb_piece]
                count += 1
            if count == 0:
                continue
            mean = total / count
            rank = (mean - ADJ_BONUS) * count
            n = int(np.argmin(rank))
            key = (float(rank[n]), float(mean[n]), h, r, c, int(idx[n]))
            if best is None or key < best:
                best = key
    return best
