"""Trim and refill: take out the fragments joined by doubtful merges and put each back in its best cell.

The greedy phases cannot undo a merge. After them, every fragment moved by a merge of low quality
(``Assembler.trust``) is removed, and the removed fragments are re-inserted one at a time, always the
(fragment, turn, free cell) with the best seams against what is already placed, in any group
(Gallagher's trimming and filling, with the seam-evidence ranking of ``merging.py``). Dense score
tables are used, so this runs only for bags of a few thousand pieces.
"""

from __future__ import annotations

import heapq

import numpy as np

from unshuffle.fragments.solver.merging import ADJ_BONUS
from unshuffle.fragments.solver.placement import Assembler

CAP_MIN_PIECES = 25  # trim_and_fill(cap_slack=...): groups this large are capped (small images keep their frame)


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


def trim_and_fill(asm: Assembler, tables: list[np.ndarray], rotations: bool, min_trust: float,
                  frames: dict[int, tuple[int, int]] | None = None, cap_slack: float | None = None) -> None:
    """Re-place every fragment whose trust is below ``min_trust`` (the best of each cluster stays).

    tables: dense (P, P) scores per relation from ``dense_scores`` (RIGHT, DOWN; RIGHT only under
    rotation, pieces ``4 * f + turn``). frames: {cluster id: (rows, cols)} frames of single clusters
    (``window.window_trim``) used instead of the assembler's own frame. cap_slack: when given (the image
    count was estimated), a group of at least ``CAP_MIN_PIECES`` fragments takes back at most this share
    more fragments than it held before the trim (a flat image's group, its frame loose, would otherwise
    take every piece that fits nowhere well); the fill's last resort, when no free cell is left inside
    any frame, ignores the caps as it ignores the frames.
    """
    caps = {}
    if cap_slack is not None:
        caps = {h: len(cl.pos) + int(np.ceil(cap_slack * len(cl.pos)))
                for h, cl in asm.clusters.items() if len(cl.pos) >= CAP_MIN_PIECES}
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
    _fill(asm, tables, rotations, cand_f, cand_t, frames or {}, caps)


def _fill(asm: Assembler, tables, rotations: bool, cand_f: np.ndarray, cand_t: np.ndarray, frames,
          caps: dict[int, int] | None = None) -> None:
    """Insert the candidates' fragments one at a time, always the best (fragment, turn, free cell) over
    every group. Each free cell's best candidate sits in a heap and is recomputed only when a
    neighbour is placed or its candidate is used up (a cell's best can only get worse as candidates
    go), so the fill costs O(fragments x candidates), not O(fragments x cells x candidates)."""
    alive = np.ones(cand_f.shape[0], bool)
    version: dict[tuple[int, int, int], int] = {}
    heap: list = []

    def push(h: int, r: int, c: int) -> None:
        best = _slot_best(asm, tables, rotations, cand_f, cand_t, np.nonzero(alive)[0], h, r, c)
        if best is not None:
            heapq.heappush(heap, (best[0], best[1], h, r, c, best[2], version.get((h, r, c), 0)))

    for h, cl in asm.clusters.items():
        slots = {(r + dr, c + dc) for r, c in cl.cells for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0))}
        for r, c in sorted(slots - cl.cells.keys()):
            push(h, r, c)
    while alive.any():
        if not heap:  # no free cell fits any frame: the best cell anywhere
            rank, cost, h, r, c, n = _best_slot(asm, tables, rotations, cand_f, cand_t, alive)
        else:
            rank, cost, h, r, c, n, ver = heapq.heappop(heap)
            cl = asm.clusters.get(h)
            if cl is None or (r, c) in cl.cells or ver != version.get((h, r, c), 0):
                continue
            rmin, rmax, cmin, cmax = cl.box
            if not _fits(asm, frames, h, (min(rmin, r), max(rmax, r), min(cmin, c), max(cmax, c))):
                continue  # the group only grows: this cell stays outside its frame
            if caps and h in caps and len(cl.pos) >= caps[h]:
                continue  # full: none of its free cells takes a piece any more
            if not alive[n]:
                push(h, r, c)
                continue
        f, t = int(cand_f[n]), int(cand_t[n])
        cl = asm.clusters[h]
        cl.pos[f] = (r, c, t)
        cl.cells[(r, c)] = f
        rmin, rmax, cmin, cmax = cl.box
        cl.box = (min(rmin, r), max(rmax, r), min(cmin, c), max(cmax, c))
        asm.owner[f] = h
        asm.trust[f] = 1.0 / (1.0 + cost)
        alive &= cand_f != f
        for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            nb = (h, r + dr, c + dc)
            if (r + dr, c + dc) not in cl.cells:
                version[nb] = version.get(nb, 0) + 1
                push(*nb)


def _slot_best(asm: Assembler, tables, rotations: bool, cand_f, cand_t, idx: np.ndarray, h: int, r: int, c: int
               ) -> tuple[float, float, int] | None:
    """(rank, mean score, candidate index) of the best of candidates ``idx`` in free cell (r, c) of
    cluster h, ranked by ``(mean - ADJ_BONUS) * neighbours``; None without neighbours or candidates."""
    if idx.shape[0] == 0:
        return None
    cl = asm.clusters[h]
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
        return None
    mean = total / count
    rank = (mean - ADJ_BONUS) * count
    n = int(np.argmin(rank))
    return float(rank[n]), float(mean[n]), int(idx[n])


def _fits(asm: Assembler, frames: dict[int, tuple[int, int]], h: int, box: tuple[int, int, int, int]) -> bool:
    """Whether cluster ``h`` may span ``box`` (rmin, rmax, cmin, cmax): its own frame, else the assembler's."""
    if h not in frames:
        return asm._fits(*box)
    rows, cols, (fr, fc) = box[1] - box[0] + 1, box[3] - box[2] + 1, frames[h]
    return (rows <= fr and cols <= fc) or (asm.rotations and rows <= fc and cols <= fr)


def _best_slot(asm: Assembler, tables, rotations: bool, cand_f, cand_t, alive):
    """Best (rank, cost, cluster, row, col, candidate index) over every free cell next to placed
    pieces, frames ignored (the fill's last resort)."""
    best = None
    idx = np.nonzero(alive)[0]
    for h, cl in asm.clusters.items():
        slots = {(r + dr, c + dc) for r, c in cl.cells for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0))}
        for r, c in sorted(slots - cl.cells.keys()):
            got = _slot_best(asm, tables, rotations, cand_f, cand_t, idx, h, r, c)
            if got is not None and (best is None or (got[0], got[1], h, r, c, got[2]) < best):
                best = (got[0], got[1], h, r, c, got[2])
    return best
