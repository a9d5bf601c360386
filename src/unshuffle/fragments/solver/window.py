"""Window trim: cut each large assembled group back to a frame of (about) its own piece count."""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.estimate import FRAME_MAX_ASPECT
from unshuffle.fragments.solver.placement import Assembler

WINDOW_MIN_PIECES = 25  # smaller groups are left as they are (a hole or two changes their best frame)
WINDOW_MIN_SHARE = 0.8  # ... and so is a group whose best window holds less than this share of it


WINDOW_COUNT_SLACK = 0.03  # N not given: a group may hold this share of pieces more or fewer than its image


def factor_frames(n: int, slack: int = 0) -> list[tuple[int, int]]:
    """Every (rows, cols) with |rows * cols - n| <= slack, at most ``FRAME_MAX_ASPECT`` elongated,
    both ways round, in increasing (rows, cols)."""
    out = []
    for r in range(1, n + slack + 1):
        for c in range(max(1, -(-(n - slack) // r)), (n + slack) // r + 1):
            if max(r, c) <= FRAME_MAX_ASPECT * min(r, c):
                out.append((r, c))
    return out


def best_window(cells: dict[tuple[int, int], int], weight: np.ndarray, frames: list[tuple[int, int]]
                ) -> tuple[float, tuple[int, int], int, int] | None:
    """The (rows, cols) window of ``frames`` and its top-left (r0, c0) that hold the most weight, less
    the cells they leave empty and the pieces they leave out (``3 * held - rows * cols`` up to a
    constant: among frames of one area, the most weight held).

    cells: (row, col) -> fragment of one group; weight: (M,) float per fragment. Returns (weight held,
    frame, r0, c0), or None when ``frames`` is empty. Ties: the first frame, the smallest r0, then c0.
    """
    if not frames or not cells:
        return None
    rc = np.array(list(cells.keys()))
    r_min, c_min = rc.min(axis=0)
    h, w = rc.max(axis=0) - rc.min(axis=0) + 1
    grid = np.zeros((h, w))
    grid[rc[:, 0] - r_min, rc[:, 1] - c_min] = weight[list(cells.values())]
    best = None
    for fr, fc in frames:
        pad = np.zeros((h + 2 * fr, w + 2 * fc))
        pad[fr:fr + h, fc:fc + w] = grid
        s = np.zeros((pad.shape[0] + 1, pad.shape[1] + 1))
        s[1:, 1:] = pad.cumsum(axis=0).cumsum(axis=1)
        win = s[fr:, fc:] - s[:-fr, fc:] - s[fr:, :-fc] + s[:-fr, :-fc]  # win[i, j]: window from pad (i, j)
        i, j = np.unravel_index(int(np.argmax(win)), win.shape)
        merit = 3 * win[i, j] - fr * fc
        if best is None or merit > best[0] + 1e-9:
            best = (merit, float(win[i, j]), (fr, fc), int(r_min + i - fr), int(c_min + j - fc))
    return None if best is None else best[1:]


def window_trim(asm: Assembler, slack: float = 0.0) -> dict[int, tuple[int, int]]:
    """For each group of at least ``WINDOW_MIN_PIECES`` fragments: the window of its own piece count n
    (``factor_frames``, up to ``slack * n`` cells more or fewer: a group of a mixed bag may have
    taken or lost a few pieces) that ``best_window`` prefers (trust breaks ties), when it holds at
    least ``WINDOW_MIN_SHARE`` of them; fragments outside it get
    trust 0 so that ``refine.trim_and_fill`` re-inserts them, and the window becomes the group's
    frame for the refill. Returns {cluster id: (rows, cols)} of the groups trimmed this way.
    """
    weight = 1.0 + 1e-3 * asm.trust
    frames = {}
    for h, cl in asm.clusters.items():
        n = len(cl.pos)
        if n < WINDOW_MIN_PIECES:
            continue
        best = best_window(cl.cells, weight, factor_frames(n, int(round(slack * n))))
        if best is None or best[0] < WINDOW_MIN_SHARE * n:
            continue
        _, (fr, fc), r0, c0 = best
        for (r, c), f in cl.cells.items():
            if not (r0 <= r < r0 + fr and c0 <= c < c0 + fc):
                asm.trust[f] = 0.0
        frames[h] = (fr, fc)
    return frames
