"""The merging placer's frames: confident clusters under a frame, frame-free clusters, and the square
grid or the frame of M / N cells chosen from the bag when the grid is not given."""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver import finishing
from unshuffle.fragments.solver.cells import core_extent
from unshuffle.fragments.solver.estimate import closed_clusters, estimate_grid, frame_candidates
from unshuffle.fragments.solver.loops import merge_loops
from unshuffle.fragments.solver.measures import LOOP_MAX_SCORE
from unshuffle.fragments.solver.merging import PairScorer, cluster_merge
from unshuffle.fragments.solver.placement import Assembler, greedy_merge

GRID_SEARCH_SPAN = 4  # unknown grid: at most this many sizes above the loop-cluster extent are tried
GRID_GOOD_SEAM = 0.9  # a seam this good (normalised dissimilarity) counts as evidence for a grid size
GRID_SEAM_SLACK = 0.1  # ... and the smallest within this share of M good seams of the best is kept


def good_seams(asm: Assembler, scorer: PairScorer) -> int:
    """How many placed seams of ``asm`` are good (normalised dissimilarity <= GRID_GOOD_SEAM)."""
    return int((scorer.placed_scores(finishing.seams(asm)) <= GRID_GOOD_SEAM).sum())


FILLED_MIN_PIECES = 100  # filled_rectangles: groups this large that fill their bounding box count as whole
FILLED_MIN_SHARE = 0.5  # images, when they also cover this share of the frame's cells (not a band of sky)


def filled_rectangles(asm: Assembler, frame: tuple[int, int], edges: np.ndarray) -> list[np.ndarray]:
    """The fragments of each group that fills its bounding box (an image laid without a hole), holding at
    least ``FILLED_MIN_PIECES`` and ``FILLED_MIN_SHARE`` of the cells of ``frame`` (rows, cols), and is
    closed (``estimate.closed_clusters``: no clear candidate seam leads out of it, so it is not a part of
    an image cut by a frame too small). edges: the candidate seams."""
    ids = list(asm.clusters)
    members = [list(asm.clusters[h].pos) for h in ids]
    shapes = [np.array(list(asm.clusters[h].cells)) for h in ids]
    closed = closed_clusters(members, shapes, edges, len(asm.owner), small=False)  # only large ones are kept
    least = max(FILLED_MIN_PIECES, FILLED_MIN_SHARE * frame[0] * frame[1])
    out = []
    for h, mem, whole in zip(ids, members, closed, strict=True):
        r0, r1, c0, c1 = asm.clusters[h].box
        if whole and len(mem) >= least and len(mem) == (r1 - r0 + 1) * (c1 - c0 + 1):
            out.append(np.array(mem))
    return out


def joins_two(asm: Assembler, wholes: list[np.ndarray], others: list[np.ndarray] | None = None) -> bool:
    """Whether one group of ``asm`` holds most fragments of one of ``wholes`` (another frame's whole
    images) and most of another of ``wholes`` or of ``others`` (that frame's other large groups)."""
    owner = np.asarray(asm.owner)
    held = []
    for k, group in enumerate(list(wholes) + list(others or [])):
        h = np.bincount(owner[group]).argmax()
        if (owner[group] == h).mean() > 0.5:
            held.append((h, k < len(wholes)))
    return any(whole and sum(g == h for g, _ in held) >= 2 for h, whole in held)


def rejected_frames(results: list[tuple[tuple[int, int], Assembler]], wholes: list, rotations: bool,
                    edges: np.ndarray) -> tuple[list[int], list[int]]:
    """Which of several frames' results (frame, Assembler) are not kept, as (too small, joining) indices.

    Joining: the result puts an image that another frame laid as a closed full rectangle
    (``filled_rectangles``) in one group with most of another of that frame's large groups. Frames are
    judged for this in decreasing order of the pieces their closed full rectangles hold (then index),
    each by the frames not joining judged before it, so parts that a frame too small laid as rectangles
    cannot accuse a frame that laid whole images. Too small: the frame cannot hold a whole image found by
    the count (``wholes``: each result's ``KeepApart`` or None) of a frame not joining (a frame that glued
    images together can report a glued 'whole image' that would cut the right frame)."""
    n = len(results)
    filled = [filled_rectangles(asm, frame, edges) for frame, asm in results]
    large = []  # each frame's other groups of FILLED_MIN_PIECES or more
    for (_, asm), whole in zip(results, filled, strict=True):
        taken = {int(w[0]) for w in whole}
        large.append([np.array(list(c.pos)) for c in asm.clusters.values()
                      if len(c.pos) >= FILLED_MIN_PIECES and not taken & set(c.pos)])
    judged: list[int] = []
    joining: list[int] = []
    for i in sorted(range(n), key=lambda k: (-sum(map(len, filled[k])), k)):
        if any(joins_two(results[i][1], filled[j], large[j]) for j in judged if j not in joining):
            joining.append(i)
        judged.append(i)
    small = [i for i in range(n) if i not in joining and any(
        wholes[j] is not None and not wholes[j].holds(results[i][0], rotations) for j in range(n) if j not in joining)]
    return small, sorted(joining)


class FrameSearch:
    """The frame search of one ``FragmentSolver.fit``: the solver's settings (``rotations_``, ``loops``,
    ``edge_max_score``, ``max_seam``, ``n_images``, ``count_max_cost``) and the bag's tables (2x2 loops
    and their scores, candidate edges, the seam scorer, each piece's fragment and turn, M fragments, the
    target count). The frame-free clusters are built once and only read afterwards."""

    def __init__(self, solver, loops: np.ndarray, loop_score: np.ndarray, edges: np.ndarray, scorer: PairScorer,
                 owner: np.ndarray, turn_of: np.ndarray, m: int, target: int):
        self.solver, self.loops, self.loop_score, self.edges, self.scorer = solver, loops, loop_score, edges, scorer
        self.owner, self.turn_of, self.m, self.target = owner, turn_of, m, target
        self._free: Assembler | None = None

    def confident(self, grid: tuple[int, int] | None) -> Assembler:
        """Clusters from the confident phases: loops, checked single edges, and (when N is unknown)
        whole-cluster merges whose seams average at most ``max_seam``."""
        sv = self.solver
        asm = Assembler(self.m, grid, sv.rotations_)
        if sv.loops:
            merge_loops(asm, self.loops, self.loop_score, self.owner, self.turn_of, self.target, LOOP_MAX_SCORE)
        greedy_merge(asm, self.edges, target=self.target, max_score=sv.edge_max_score,
                     check=self.scorer.adjacency_cost, max_seam=sv.max_seam)
        if sv.n_images is None:
            cluster_merge(asm, self.edges, self.scorer, target=1, max_cost=sv.count_max_cost)
        return asm

    def free_clusters(self) -> Assembler:
        """Clusters grown along the confident edges without any frame (their extents bound the grid)."""
        if self._free is None:
            sv = self.solver
            self._free = Assembler(self.m, None, sv.rotations_)
            greedy_merge(self._free, self.edges, target=1, max_score=sv.edge_max_score,
                         check=self.scorer.adjacency_cost, max_seam=sv.max_seam)
        return self._free

    def frame_from_count(self, n_img: int) -> list[tuple[int, int]]:
        """Unknown grid, N given: frames of ceil(M / N) cells shaped after the core of the largest free
        cluster (``cells.core_extent``), best first (``estimate.frame_candidates``)."""
        big = max(self.free_clusters().clusters.values(), key=lambda c: len(c.pos))
        h, w = core_extent(list(big.cells))
        if self.solver.rotations_:
            h, w = min(h, w), max(h, w)
        return frame_candidates(-(-self.m // n_img), (h, w))

    def choose_grid(self) -> tuple[tuple[int, int], Assembler]:
        """Unknown grid: try every g between the extent of loop-only clusters and that of clusters
        grown without a frame, and keep the smallest g that closes (nearly) the most good seams
        (a frame too small cuts images, one too large closes no more good seams)."""
        lo = estimate_grid(self.loops, self.loop_score, self.owner, self.turn_of, self.m, self.solver.rotations_,
                           LOOP_MAX_SCORE)[0]
        hi = max(max(c.box[1] - c.box[0], c.box[3] - c.box[2]) + 1 for c in self.free_clusters().clusters.values())
        hi = min(max(hi, lo), lo + GRID_SEARCH_SPAN)
        tried = []
        for g in range(max(lo, 1), hi + 1):
            asm = self.confident((g, g))
            tried.append((good_seams(asm, self.scorer), g, asm))
        most = max(t[0] for t in tried)
        for good, g, asm in tried:
            if good >= most - GRID_SEAM_SLACK * self.m:
                return (g, g), asm
        raise AssertionError("unreachable: the best grid always qualifies")
