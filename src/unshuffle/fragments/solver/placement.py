"""Greedy constrained merging of pieces into rigid clusters (Gallagher's tree placer, mixed bags).

Candidate edges are taken in increasing normalised dissimilarity (best buddies first, as in Paikin &
Tal). An edge joins the two clusters holding its fragments when the moved cluster lands without
collision and the union fits inside the frame (the known or estimated grid). Each cluster is one
image in the end. Under unknown rotation a piece is a (fragment, quarter turn) pair and a merge may
turn the moved cluster as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# offset of the second piece of a RIGHT / DOWN edge from the first, in (row, col)
OFFSETS = ((0, 1), (1, 0))


def rotate_offset(r: int, c: int, k: int) -> tuple[int, int]:
    """Offset (r, c) turned k quarter turns counter-clockwise, as ``np.rot90`` turns an image."""
    for _ in range(k % 4):
        r, c = -c, r
    return r, c


@dataclass
class Cluster:
    """A rigid cluster: fragment -> (row, col, turn) in its own coordinates, and the cell map."""

    pos: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    cells: dict[tuple[int, int], int] = field(default_factory=dict)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # rmin, rmax, cmin, cmax, kept up to date

    def extent(self) -> tuple[int, int, int, int]:
        return self.box


class Assembler:
    """Union of rigid clusters over M fragments, merged edge by edge under a frame constraint.

    Parameters:
        n_fragments: M.
        frame: (rows, cols) the largest allowed cluster extent, or None for no limit.
        rotations: whether clusters may be turned when merged (and the frame may be transposed).
    """

    def __init__(self, n_fragments: int, frame: tuple[int, int] | None, rotations: bool):
        self.frame = frame
        self.rotations = rotations
        self.owner = list(range(n_fragments))
        self.trust = np.ones(n_fragments)  # lowest quality of the merges that moved each fragment
        self.clusters: dict[int, Cluster] = {
            f: Cluster({f: (0, 0, 0)}, {(0, 0): f}) for f in range(n_fragments)
        }

    def size_of(self, fragments: np.ndarray) -> np.ndarray:
        """(K,) int64 size of the cluster holding each fragment of (K,) int64 ``fragments``."""
        sizes = np.array([len(self.clusters[h].pos) for h in self.owner])
        return sizes[fragments]

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    def _fits(self, rmin: int, rmax: int, cmin: int, cmax: int) -> bool:
        if self.frame is None:
            return True
        h, w = rmax - rmin + 1, cmax - cmin + 1
        fr, fc = self.frame
        return (h <= fr and w <= fc) or (self.rotations and h <= fc and w <= fr)

    def plan(self, fa: int, ka: int, fb: int, kb: int, rel: int, frame: bool = True
             ) -> tuple[int, int, list[tuple[int, int, int, int]]] | None:
        """Where cluster of ``fb`` goes if piece (fb, kb) sits at OFFSETS[rel] from piece (fa, ka).

        Returns (host id, guest id, [(fragment, row, col, turn)] of the guest in host coordinates),
        or None when the fragments are already together or the move collides or leaves the frame.
        """
        ha, hb = self.owner[fa], self.owner[fb]
        if ha == hb:
            return None
        host, guest = self.clusters[ha], self.clusters[hb]
        ra, ca, ta = host.pos[fa]
        delta = ta - ka  # the edge's frame turned so that fa appears as it does in the host
        dr, dc = rotate_offset(*OFFSETS[rel], delta)
        tr, tc, tt = ra + dr, ca + dc, (kb + delta) % 4
        rb, cb, tb = guest.pos[fb]
        rho = (tt - tb) % 4
        if rho and not self.rotations:
            return None
        moved = []
        rmin, rmax, cmin, cmax = host.extent()
        for f, (r, c, t) in guest.pos.items():
            orr, occ = rotate_offset(r - rb, c - cb, rho)
            nr, nc = tr + orr, tc + occ
            if (nr, nc) in host.cells:
                return None
            rmin, rmax, cmin, cmax = min(rmin, nr), max(rmax, nr), min(cmin, nc), max(cmax, nc)
            moved.append((f, nr, nc, (t + rho) % 4))
        if frame and not self._fits(rmin, rmax, cmin, cmax):
            return None
        return ha, hb, moved

    def apply(self, host_id: int, guest_id: int, moved: list[tuple[int, int, int, int]],
              quality: float = 1.0) -> None:
        """Move the guest cluster's fragments into the host, as planned.

        ``quality`` in [0, 1] is how sure the merge is; each moved fragment keeps the lowest quality
        of the merges that moved it (``trust``): if a merge was wrong, the moved part is misplaced.
        """
        host = self.clusters[host_id]
        rmin, rmax, cmin, cmax = host.box
        for f, r, c, t in moved:
            rmin, rmax, cmin, cmax = min(rmin, r), max(rmax, r), min(cmin, c), max(cmax, c)
            host.pos[f] = (r, c, t)
            host.cells[(r, c)] = f
            self.trust[f] = min(self.trust[f], quality)
            self.owner[f] = host_id
        host.box = (rmin, rmax, cmin, cmax)
        del self.clusters[guest_id]

    def plan_edge(self, fa: int, ka: int, fb: int, kb: int, rel: int, frame: bool = True):
        """The plan joining the clusters of an edge, moving the smaller cluster (see ``plan``)."""
        if len(self.clusters[self.owner[fa]].pos) < len(self.clusters[self.owner[fb]].pos):
            # move the smaller one: the same edge seen from fb (fa sits at -offset from fb)
            return self._plan_reverse(fa, ka, fb, kb, rel, frame)
        return self.plan(fa, ka, fb, kb, rel, frame)

    def merge_edge(self, fa: int, ka: int, fb: int, kb: int, rel: int, frame: bool = True,
                   quality: float = 1.0) -> bool:
        """Join the clusters of an edge if the plan is feasible; the larger cluster stays in place."""
        plan = self.plan_edge(fa, ka, fb, kb, rel, frame)
        if plan is None:
            return False
        self.apply(*plan, quality=quality)
        return True

    def _plan_reverse(self, fa: int, ka: int, fb: int, kb: int, rel: int, frame: bool):
        """Plan moving fa's cluster next to fb's: the edge turned by 180 degrees swaps the roles."""
        return self.plan(fb, (kb + 2) % 4, fa, (ka + 2) % 4, rel, frame) if self.rotations else \
            self._plan_translate(fb, fa, rel, frame)

    def _plan_translate(self, fb: int, fa: int, rel: int, frame: bool):
        """Without rotation: fa sits at -OFFSETS[rel] from fb."""
        ha, hb = self.owner[fb], self.owner[fa]
        if ha == hb:
            return None
        host, guest = self.clusters[ha], self.clusters[hb]
        rb, cb, _ = host.pos[fb]
        dr, dc = OFFSETS[rel]
        tr, tc = rb - dr, cb - dc
        ra, ca, _ = guest.pos[fa]
        rmin, rmax, cmin, cmax = host.extent()
        moved = []
        for f, (r, c, t) in guest.pos.items():
            nr, nc = tr + r - ra, tc + c - ca
            if (nr, nc) in host.cells:
                return None
            rmin, rmax, cmin, cmax = min(rmin, nr), max(rmax, nr), min(cmin, nc), max(cmax, nc)
            moved.append((f, nr, nc, t))
        if frame and not self._fits(rmin, rmax, cmin, cmax):
            return None
        return ha, hb, moved

    def layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """(group, row, col, turn) per fragment, clusters ordered by size then smallest fragment id,
        each shifted so that its top-left cell is (0, 0); and the canvas shape of each group."""
        order = sorted(self.clusters, key=lambda h: (-len(self.clusters[h].pos), min(self.clusters[h].pos)))
        m = len(self.owner)
        group, row, col, turn = (np.zeros(m, np.int64) for _ in range(4))
        shapes = []
        for gid, h in enumerate(order):
            cl = self.clusters[h]
            rmin, rmax, cmin, cmax = cl.extent()
            shapes.append((rmax - rmin + 1, cmax - cmin + 1))
            for f, (r, c, t) in cl.pos.items():
                group[f], row[f], col[f], turn[f] = gid, r - rmin, c - cmin, t
        return group, row, col, turn, shapes


def greedy_merge(asm: Assembler, edges: np.ndarray, target: int = 1, max_score: float = np.inf,
                 frame: bool = True, check=None, max_seam: float = np.inf) -> None:
    """Merge along edges in the given order until ``target`` clusters remain.

    edges: (E, 6) float64 rows (score, fa, ka, fb, kb, rel) sorted by score; rows with score above
    ``max_score`` are not used. ``check``: optional ``(asm, host_id, moved) -> (mean cost, count)``
    (``PairScorer.adjacency_cost``); a merge whose new seams average more than ``max_seam`` (or
    more than the edge's own score, if larger) is refused.
    """
    for row in edges:
        if asm.n_clusters <= target or row[0] > max_score:
            break
        fa, fb = int(row[1]), int(row[3])
        if asm.owner[fa] == asm.owner[fb]:
            continue
        plan = asm.plan_edge(fa, int(row[2]), fb, int(row[4]), int(row[5]), frame)
        if plan is None:
            continue
        cost = row[0]
        if check is not None:
            cost, n_seams = check(asm, plan[0], plan[2])
            if n_seams > 1 and cost > max(max_seam, row[0]):
                continue
        asm.apply(*plan, quality=1.0 / (1.0 + max(cost, row[0])))
