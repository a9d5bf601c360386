"""Second placement phase: merge whole clusters by the cost of *every* boundary they would share.

After the edge-by-edge greedy phase, an image is often split into a few pure clusters whose joining
placement is not implied by any single confident edge. Here each candidate edge between two
clusters proposes one relative placement; the proposal is scored by the mean normalised
dissimilarity over all new adjacencies it creates, and the best proposal is applied, repeatedly.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np

from unshuffle.fragments.solver.placement import Assembler, rotate_offset
from unshuffle.fragments.solver.shifts import free_shifts

# A proposal is ranked by sum(score - ADJ_BONUS) over its new adjacencies: every boundary that
# matches better than this counts as evidence, so a merge closing many good seams beats one lucky edge.
ADJ_BONUS = 3.0


class PairScorer:
    """Normalised dissimilarity of arbitrary piece pairs, from the query/key features.

    feats: per relation (query (P, F), key (P, F)); seconds: per relation (row_second (P,),
    col_second (P,)). Under rotation only the RIGHT relation exists and pieces are ``4 * f + turn``.
    """

    def __init__(self, feats: list[tuple[np.ndarray, np.ndarray]],
                 seconds: list[tuple[np.ndarray, np.ndarray]], rotations: bool):
        self.feats = feats
        self.seconds = seconds
        self.rotations = rotations

    def score(self, a: np.ndarray, b: np.ndarray, rel: np.ndarray) -> np.ndarray:
        """Scores of pieces b at OFFSETS[rel] from pieces a. a, b, rel: (K,) int64. Returns (K,)."""
        out = np.empty(a.shape[0])
        for r in range(len(self.feats)):
            m = rel == r
            if not m.any():
                continue
            q, k = self.feats[r]
            rs, cs = self.seconds[r]
            d = np.maximum((q[a[m]] * k[b[m]]).sum(axis=1), 0.0)
            ref = np.minimum(rs[a[m]], cs[b[m]])
            ref = np.where(np.isfinite(ref), ref, np.maximum(d, 1e-6))
            out[m] = d / np.maximum(ref, 1e-6)
        return out

    def placed_scores(self, pairs: list[tuple[int, int, int, int, bool]]) -> np.ndarray:
        """Scores of placed neighbours. pairs: (f, turn_f, g, turn_g, vertical) with g right of
        (or, when vertical, below) f. Returns (K,) float64."""
        if not pairs:
            return np.zeros(0)
        p = np.array(pairs, dtype=np.int64)
        f, tf, g, tg, vert = p.T
        if self.rotations:  # turn a vertical pair a quarter turn so the second piece is on the right
            return self.score(4 * f + (tf + vert) % 4, 4 * g + (tg + vert) % 4, np.zeros_like(f))
        return self.score(f, g, vert)

    def adjacency_cost(self, asm: Assembler, host_id: int, moved: list[tuple[int, int, int, int]]
                       ) -> tuple[float, int]:
        """Mean score over the adjacencies between moved pieces and the host, and their count."""
        host = asm.clusters[host_id]
        pairs = []
        for f, r, c, t in moved:
            for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                nb = host.cells.get((r + dr, c + dc))
                if nb is None:
                    continue
                tn = host.pos[nb][2]
                if dr + dc > 0:
                    pairs.append((f, t, nb, tn, dr != 0))
                else:
                    pairs.append((nb, tn, f, t, dr != 0))
        if not pairs:
            return np.inf, 0
        return float(self.placed_scores(pairs).mean()), len(pairs)


def cluster_merge(asm: Assembler, edges: np.ndarray, scorer: PairScorer, target: int,
                  max_cost: float = np.inf, frame: bool = True, room: int | None = None,
                  apart: Callable[[int, int], bool] | None = None) -> None:
    """Merge clusters by the best whole-boundary proposal until ``target`` clusters remain or the
    best proposal's mean seam cost exceeds ``max_cost``.

    Each candidate edge between two clusters proposes one placement, ranked by
    ``sum(seam score - ADJ_BONUS)`` over all the seams it creates. Proposals sit in a heap and are
    re-planned lazily when one of their clusters has changed since they were ranked.
    edges: (E, 6) rows (score, fa, ka, fb, kb, rel). ``room``: when set, a merge may not make a
    cluster larger than ``room`` fragments (used when the frame is lifted). ``apart(host, guest)``:
    when true, that merge is not made (two whole images of a puzzle bag, ``estimate.KeepApart``).
    """
    cap = room if room is not None else (asm.frame[0] * asm.frame[1] if asm.frame else None)
    fa_all, fb_all = edges[:, 1].astype(np.int64), edges[:, 3].astype(np.int64)
    owner = np.asarray(asm.owner)
    keep = owner[fa_all] != owner[fb_all]
    if cap is not None:
        keep &= asm.size_of(fa_all) + asm.size_of(fb_all) <= cap
    version: dict[int, int] = {}
    heap: list = []
    seen: set = set()

    def propose(n: int) -> None:
        fa, ka, fb, kb, rel = (int(v) for v in edges[n, 1:])
        plan = asm.plan(fa, ka, fb, kb, rel, frame)
        if plan is None:
            return
        host_id, guest_id, moved = plan
        if room is not None and len(asm.clusters[host_id].pos) + len(moved) > room:
            return
        key = (host_id, guest_id, version.get(host_id, 0), version.get(guest_id, 0), moved[0])
        if key in seen:  # another edge already proposed this very placement
            return
        seen.add(key)
        cost, n_adj = scorer.adjacency_cost(asm, host_id, moved)
        heapq.heappush(heap, ((cost - ADJ_BONUS) * n_adj, cost, n, host_id, guest_id,
                              version.get(host_id, 0), version.get(guest_id, 0)))

    for n in np.nonzero(keep)[0].tolist():
        propose(n)
    while heap and asm.n_clusters > target:
        _, cost, n, host_id, guest_id, vh, vg = heapq.heappop(heap)
        fa, fb = int(fa_all[n]), int(fb_all[n])
        if asm.owner[fa] == asm.owner[fb]:
            continue
        if (asm.owner[fa], asm.owner[fb]) != (host_id, guest_id) or \
                version.get(host_id, 0) != vh or version.get(guest_id, 0) != vg:
            propose(n)  # stale: re-plan with the clusters as they are now
            continue
        if cost > max_cost:
            return
        if apart is not None and apart(host_id, guest_id):
            continue
        plan = asm.plan(*(int(v) for v in edges[n, 1:]), frame)
        asm.apply(*plan, quality=1.0 / (1.0 + cost) if frame else 0.5 / (1.0 + cost))
        version[host_id] = version.get(host_id, 0) + 1


def exhaustive_merge(asm: Assembler, scorer: PairScorer, target: int, max_cost: float = np.inf,
                     max_clusters: int = 24, apart: Callable[[int, int], bool] | None = None) -> None:
    """Like ``cluster_merge`` but trying every placement of every pair of incomplete clusters that
    fits the frame together (not only those a candidate edge proposes). Meant for the few clusters
    left: it does nothing when more than ``max_clusters`` clusters are incomplete."""
    if asm.frame is None:
        return
    fr, fc = asm.frame
    cap = fr * fc
    while asm.n_clusters > target:
        ids = sorted(h for h, cl in asm.clusters.items() if len(cl.pos) < cap)
        if len(ids) > max_clusters:
            return
        best = None
        for hi in ids:
            host = asm.clusters[hi]
            for gi in ids:
                guest = asm.clusters[gi]
                if gi == hi or len(guest.pos) > len(host.pos) or len(host.pos) + len(guest.pos) > cap:
                    continue
                if len(guest.pos) == len(host.pos) and gi < hi or apart is not None and apart(hi, gi):
                    continue
                for rho in (range(4) if asm.rotations else (0,)):
                    base = [(f, *rotate_offset(r, c, rho), (t + rho) % 4) for f, (r, c, t) in guest.pos.items()]
                    shifts = free_shifts(list(host.cells), [(r, c) for _, r, c, _ in base], asm.frame,
                                         asm.rotations, touching=True)
                    for tr, tc in shifts.tolist():
                        moved = [(f, r + tr, c + tc, t) for f, r, c, t in base]
                        cost, n_adj = scorer.adjacency_cost(asm, hi, moved)
                        rank = ((cost - ADJ_BONUS) * n_adj, cost, hi, gi, rho, tr, tc)
                        if best is None or rank < best[0]:
                            best = (rank, hi, gi, moved)
        if best is None or best[0][1] > max_cost:
            return
        asm.apply(best[1], best[2], best[3], quality=1.0 / (1.0 + best[0][1]))


__all__ = ["PairScorer", "cluster_merge", "exhaustive_merge"]
