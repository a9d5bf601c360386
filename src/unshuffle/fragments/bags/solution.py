"""Solution: what any fragment-grouping method returns (groups, placements, turns, confidences) and its pictures."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Solution:
    """Groups and placements for a bag of M fragments.

    Attributes:
        group: (M,) int64 group id of each fragment, in [0, n_groups).
        row, col: (M,) int64 cell of each fragment in its group's canvas; -1 when the method only
            groups (no placement).
        turn: (M,) int64 quarter turns counter-clockwise that put each fragment upright, i.e.
            ``np.rot90(fragment, k=turn)`` is upright; 0 when orientation is known.
        confidence: (M,) float64 in [0, 1], the method's belief that the placement is right.
        shapes: (rows, cols) of each group's canvas, one per group; empty when not placed.
        settings: what produced it (method name, parameters), written next to the result.
    """

    group: np.ndarray
    row: np.ndarray
    col: np.ndarray
    turn: np.ndarray
    confidence: np.ndarray
    shapes: list[tuple[int, int]] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @classmethod
    def grouping_only(cls, group: np.ndarray, settings: dict | None = None) -> Solution:
        """A solution that assigns groups but no places (baselines such as KMeans)."""
        g = np.asarray(group, dtype=np.int64)
        m = g.shape[0]
        neg = np.full(m, -1, dtype=np.int64)
        return cls(g, neg, neg.copy(), np.zeros(m, np.int64), np.full(m, np.nan), [], settings or {})

    def __len__(self) -> int:
        return int(self.group.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.group.max()) + 1 if len(self) else 0

    @property
    def placed(self) -> bool:
        return bool(len(self)) and bool((self.row >= 0).all())

    def validate(self, n_fragments: int) -> None:
        """Raise ValueError unless every fragment appears exactly once, in a cell of its group's canvas."""
        arrays = {"group": self.group, "row": self.row, "col": self.col, "turn": self.turn,
                  "confidence": self.confidence}
        for name, a in arrays.items():
            if a.shape != (n_fragments,):
                raise ValueError(f"solution.{name} has shape {a.shape}, expected ({n_fragments},)")
        if n_fragments and (self.group.min() < 0):
            raise ValueError("negative group id")
        if not self.placed:
            return
        if len(self.shapes) != self.n_groups:
            raise ValueError(f"{len(self.shapes)} canvas shapes for {self.n_groups} groups")
        rows = np.array([s[0] for s in self.shapes])[self.group]
        cols = np.array([s[1] for s in self.shapes])[self.group]
        if (self.row >= rows).any() or (self.col >= cols).any() or (self.col < 0).any():
            raise ValueError("a fragment lies outside its group's canvas")
        cells = set(zip(self.group.tolist(), self.row.tolist(), self.col.tolist(), strict=True))
        if len(cells) != n_fragments:
            raise ValueError("two fragments share one cell")
        if ((self.turn < 0) | (self.turn > 3)).any():
            raise ValueError("turn must be in 0..3")


EMPTY_GREY = 128  # value of the pixels of an empty cell
LOW_CONFIDENCE = 0.5  # a fragment below this share of its bag's median confidence is marked as doubtful
MARK_RED = (220, 30, 30)


def assemble_group(fragments: np.ndarray, solution: Solution, group: int, gap: int = 0,
                   marked: np.ndarray | None = None) -> np.ndarray:
    """The canvas of one group: each fragment turned upright (``np.rot90(f, k=turn)``) in its cell.

    fragments: (M, s, s, 3) uint8, the bag the solution is for. Empty cells are grey. A solution
    that only groups (not placed) is tiled in fragment order into a near-square sheet instead.
    ``gap`` grey pixels separate the cells; ``marked``: (M,) bool, fragments framed in red (e.g.
    :func:`doubtful`). Returns (R*(s+gap)-gap, C*(s+gap)-gap, 3) uint8.
    """
    members = np.flatnonzero(solution.group == group)
    s = fragments.shape[1]
    if solution.placed:
        rows, cols = (int(v) for v in solution.shapes[group])
        r, c = solution.row[members].astype(np.int64), solution.col[members].astype(np.int64)
        turns = solution.turn[members]
    else:
        cols = max(1, int(np.ceil(np.sqrt(len(members)))))
        rows = max(1, int(np.ceil(len(members) / cols)))
        r, c = np.divmod(np.arange(len(members), dtype=np.int64), cols)
        turns = np.zeros(len(members), dtype=np.int64)
    step = s + gap
    grid = np.full((rows, cols, step, step, 3), EMPTY_GREY, dtype=np.uint8)  # one padded cell per (row, col)
    turns = np.asarray(turns, np.int64) % 4
    for t in np.unique(turns):  # fragments of one turn rotate together
        k = turns == t
        grid[r[k], c[k], :s, :s] = np.rot90(fragments[members[k]], k=int(t), axes=(1, 2))
    if marked is not None:
        width = max(1, s // 16)
        m = np.asarray(marked, bool)[members]
        rm, cm = r[m], c[m]
        for rows_sl, cols_sl in ((slice(0, width), slice(0, s)), (slice(s - width, s), slice(0, s)),
                                 (slice(0, s), slice(0, width)), (slice(0, s), slice(s - width, s))):
            grid[rm, cm, rows_sl, cols_sl] = MARK_RED
    canvas = grid.transpose(0, 2, 1, 3, 4).reshape(rows * step, cols * step, 3)
    return np.ascontiguousarray(canvas[: rows * step - gap, : cols * step - gap])


def doubtful(solution: Solution) -> np.ndarray:
    """(M,) bool: fragments whose confidence is below ``LOW_CONFIDENCE`` times the bag's median.

    Confidences rank placements well but their scale depends on the edge measure and the damage,
    so the bar is relative to the bag."""
    conf = np.asarray(solution.confidence, np.float64)
    ok = np.isfinite(conf)
    if not ok.any():
        return np.zeros(conf.shape, bool)
    return ok & (conf < LOW_CONFIDENCE * float(np.median(conf[ok])))


def group_confidence(solution: Solution) -> np.ndarray:
    """(n_groups,) mean confidence of each group's fragments (nan where confidences are unknown)."""
    sums = np.bincount(solution.group, weights=solution.confidence, minlength=solution.n_groups)
    return sums / np.maximum(np.bincount(solution.group, minlength=solution.n_groups), 1)
