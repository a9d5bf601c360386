"""Closed 2x2 loops of candidate edges (Son et al. 2014): four pieces whose four boundaries agree.

A single best-buddy edge can be wrong in a flat or repetitive region; four pieces a, b (right of a),
c (below a) and d (right of c, below b) that are mutual candidates on all four boundaries are far
more reliable. The placer merges such loops first, in order of their worst edge.
"""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.candidates import Candidates


def neighbour_table(c: Candidates, n_pieces: int, k: int, max_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` partners per piece as a dense table, from sparse candidates.

    Returns partner (P, k) int64 (-1 where none) and score (P, k) float64 (+inf where none),
    each row sorted by increasing score; only pairs scoring at most ``max_score`` are kept.
    """
    ok = c.score <= max_score
    i, j, s = c.i[ok], c.j[ok], c.score[ok]
    order = np.lexsort((j, s, i))
    i, j, s = i[order], j[order], s[order]
    start = np.searchsorted(i, np.arange(n_pieces))
    rank = np.arange(i.shape[0]) - start[i]
    keep = rank < k
    partner = np.full((n_pieces, k), -1, np.int64)
    score = np.full((n_pieces, k), np.inf)
    partner[i[keep], rank[keep]] = j[keep]
    score[i[keep], rank[keep]] = s[keep]
    return partner, score


def square_loops(right: tuple[np.ndarray, np.ndarray], down: tuple[np.ndarray, np.ndarray],
                 owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All 2x2 loops a-b / c-d among the candidate tables.

    right, down: (partner (P, k), score (P, k)) tables of the RIGHT and DOWN relations (the DOWN
    table of pieces under rotation is derived by the caller). owner: (P,) fragment of each piece.
    Returns loops (L, 4) int64 piece ids (a, b, c, d) and their score (L,) = worst of the 4 edges,
    sorted by score.
    """
    rp, rs = right
    dp, ds = down
    b = rp[:, :, None, None, None]  # (P, k, 1, 1, 1) b = right of a (index x)
    c = dp[:, None, :, None, None]  # (P, 1, k, 1, 1) c = below a (index y)
    bd = dp[rp.clip(0)][:, :, None, :, None]  # d below b (index z)
    cr = rp[dp.clip(0)][:, None, :, None, :]  # d right of c (index w)
    hit = (b >= 0) & (c >= 0) & (bd >= 0) & (bd == cr)
    idx = np.nonzero(hit)
    ia, ib, ic, iz, iw = idx
    loops = np.stack([ia, rp[ia, ib], dp[ia, ic], dp[rp[ia, ib], iz]], axis=1)
    own = owner[loops]
    distinct = ((own[:, :, None] != own[:, None, :]) | np.eye(4, dtype=bool)).all(axis=(1, 2))
    loops = loops[distinct]
    ia, ib, ic, iz, iw = (v[distinct] for v in idx)
    score = np.max(np.stack([rs[ia, ib], ds[ia, ic], ds[rp[ia, ib], iz], rs[dp[ia, ic], iw]], axis=1), axis=1)
    order = np.lexsort((loops[:, 0], score))
    return loops[order], score[order]


def rotated_down_table(right: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """DOWN table of oriented pieces ``4 * f + turn`` from their RIGHT table.

    q is below p exactly when, after one more quarter turn of both, q is right of p.
    """
    rp, rs = right
    pid = np.arange(rp.shape[0])
    turned = 4 * (pid // 4) + (pid % 4 + 1) % 4
    dp = rp[turned]
    dp = np.where(dp >= 0, 4 * (dp // 4) + (dp % 4 + 3) % 4, -1)
    return dp, rs[turned]


def merge_loops(asm, loops: np.ndarray, score: np.ndarray, owner: np.ndarray, turn: np.ndarray,
                target: int, max_score: float) -> None:
    """Merge the loops (L, 4) in order (a-b right, a-c down, b-d down) while score <= max_score."""
    for (a, b, c, d), s in zip(loops.tolist(), score.tolist(), strict=True):
        if s > max_score or asm.n_clusters <= target:
            return
        for x, y, rel in ((a, b, 0), (a, c, 1), (b, d, 1)):
            asm.merge_edge(int(owner[x]), int(turn[x]), int(owner[y]), int(turn[y]), rel, quality=1.0 / (1.0 + s))
