"""Last steps of the solver: forced joins of cut-off clusters, the buddies ablation, seams and confidence."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from unshuffle.fragments.solver.merging import PairScorer
from unshuffle.fragments.solver.placement import Assembler
from unshuffle.fragments.solver.shifts import free_shifts


def union_groups(edges: np.ndarray, m: int, n_images: int | None, max_score: float,
                  grid: tuple[int, int]) -> np.ndarray:
    """Ablation grouper: union-find along edges in order, no geometry. With ``n_images`` given it
    unites until that many groups remain; otherwise it unites along edges scoring at most
    ``max_score`` and keeps the components (their count is the N estimate)."""
    parent = np.arange(m)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    n = m
    target = 1 if n_images is None else n_images
    for row in edges:
        if n <= target or (n_images is None and row[0] > max_score):
            break
        a, b = find(int(row[1])), find(int(row[3]))
        if a != b:
            parent[max(a, b)] = min(a, b)
            n -= 1
    roots = np.array([find(x) for x in range(m)])
    _, group = np.unique(roots, return_inverse=True)
    return group.astype(np.int64)


def force_merge(asm: Assembler, target: int, colour: np.ndarray, cells: int,
                apart: Callable[[int, int], bool] | None = None) -> None:
    """Last resort for clusters that share no seam with anything left (cut off by missing pieces):
    join the smallest cluster to the cluster of most similar colour statistics that still has room
    for it and is not kept ``apart`` from it (any cluster if none is), in free cells of its frame when
    the guest fits there without collision, else beside its canvas. colour: (M, D) float per-fragment
    colour statistics."""
    while asm.n_clusters > target:
        ids = sorted(asm.clusters, key=lambda h: (len(asm.clusters[h].pos), h))
        guest_id = ids[0]
        guest = asm.clusters[guest_id]
        g_mean = colour[list(guest.pos)].mean(axis=0)
        room = [h for h in ids[1:] if len(asm.clusters[h].pos) + len(guest.pos) <= cells]
        hosts = [h for h in room if apart is None or not apart(h, guest_id)] or room or ids[1:]
        dist = [float(np.linalg.norm(colour[list(asm.clusters[h].pos)].mean(axis=0) - g_mean)) for h in hosts]
        host_id = hosts[int(np.argmin(dist))]
        host = asm.clusters[host_id]
        grmin, _, gcmin, _ = guest.extent()
        hrmin = host.extent()[0]
        # the first shift, in increasing (row, col) order, that puts the guest in free cells of the host's frame
        shifts = free_shifts(list(host.cells), list(guest.cells), asm.frame, asm.rotations, touching=False)
        moved = None
        if len(shifts):
            tr, tc = shifts[0].tolist()
            moved = [(f, r + tr, c + tc, t) for f, (r, c, t) in guest.pos.items()]
        if moved is None:
            hcmax = host.extent()[3]
            moved = [(f, r - grmin + hrmin, c - gcmin + hcmax + 1, t) for f, (r, c, t) in guest.pos.items()]
        asm.apply(host_id, guest_id, moved, quality=0.0)


def _fragment_pixels(lab: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """(M, s*s, 3) the pixels of each fragment's first piece (its turns hold the same pixels)."""
    first = np.unique(owner, return_index=True)[1]
    return lab[first].reshape(first.shape[0], -1, 3)


def colour_stats(lab: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """(M, 6) mean and std of L, a, b per fragment. lab: (P, s, s, 3) pieces; owner: (P,)."""
    x = _fragment_pixels(lab, owner)
    return np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1)


def colour_histograms(lab: np.ndarray, owner: np.ndarray, bins: int = 6) -> np.ndarray:
    """(M, bins**3) pixel counts per fragment in a bins x bins x bins grid of CIE L*a*b* (L 0-100,
    a and b -60..60, outside values in the end bins). lab: (P, s, s, 3) pieces; owner: (P,)."""
    x = _fragment_pixels(lab, owner)
    lo, width = np.array([0.0, -60.0, -60.0], np.float32), np.array([100.0, 120.0, 120.0], np.float32)
    q = np.clip(((x.astype(np.float32, copy=False) - lo) / width * bins).astype(np.int32), 0, bins - 1)
    m = q.shape[0]
    offset = np.arange(m, dtype=np.int32 if m * bins**3 < 2**31 else np.int64) * bins**3  # one block per fragment
    code = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2] + offset[:, None]  # (M, s*s)
    return np.bincount(code.ravel(), minlength=m * bins**3).reshape(m, bins**3)


def seams(asm: Assembler) -> list[tuple[int, int, int, int, bool]]:
    """Every placed adjacency (f, turn_f, g, turn_g, vertical), g right of or below f."""
    pairs = []
    for cl in asm.clusters.values():
        for f, (r, c, t) in cl.pos.items():
            for dr, dc in ((0, 1), (1, 0)):
                nb = cl.cells.get((r + dr, c + dc))
                if nb is not None:
                    pairs.append((f, t, nb, cl.pos[nb][2], dr == 1))
    return pairs


def confidence(scorer: PairScorer, asm: Assembler) -> np.ndarray:
    """(M,) confidence in [0, 1]: seam evidence times merge-path trust.

    Each adjacency scores ``1 / (1 + d / second_best)``; a fragment takes its best adjacency (one
    with no neighbour scores 0). This is multiplied by ``asm.trust``, the weakest merge that moved
    the fragment (a part joined by a doubtful merge is misplaced as a block even when its inner
    seams are perfect).
    """
    pairs = seams(asm)
    conf = np.zeros(len(asm.owner))
    if pairs:
        v = 1.0 / (1.0 + scorer.placed_scores(pairs))
        p = np.array(pairs, dtype=np.int64)
        np.maximum.at(conf, p[:, 0], v)
        np.maximum.at(conf, p[:, 2], v)
    return np.clip(conf * asm.trust, 0.0, 1.0)
