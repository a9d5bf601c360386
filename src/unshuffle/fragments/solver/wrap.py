"""Cyclic-wrap correction: a full layout cut in the wrong place is rolled so that its worst seams become the border.

A layout that fills its frame can hold the right picture cut in the wrong place: when the photo's
right edge looks like its left edge, a placer that grows into the frame joins them, and the picture's
columns come back in the wrong cyclic order (a roll); the two parts, joined only by that bogus seam,
can also sit at different heights, each with its own rows rolled (a band roll). In the true layout
the border is where the worst seams are (the wrap-around seams join unrelated pieces), so the
correction looks at the layout as a torus: the grid is cut at one internal column seam into a left
part A and a right part B, laid out again as B then A with A's rows turned cyclically by d relative
to B's and the whole turned by r rows, every split, d and r tried at once from the seams'
compatibilities; the same with rows and columns exchanged. Seams score as in ``grow.buddy_seams``
(mutual compatibility ``1 - D / second``, both sides averaged, at least ``-SEAM_CAP / 2``); the
candidate with the highest summed compatibility replaces the layout when it gains more than
``MARGIN`` per pair of the seam it opens (rows of a column split, columns of a row split); up to
``MAX_ROUNDS`` rounds. Plain rolls (d = 0, or no split with the rows or columns turned) are among
the candidates.
"""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.grow import FLOOR, OPPOSITE, SEAM_CAP, PieceTables, buddy_seams

MARGIN = 0.2  # summed-compatibility gain per pair of the opened seam needed to change a layout. Dev (252 puzzles):
# every relayout of a true layout loses >= 0.58; the solver layouts' best relayouts gain 0.77 (rocket crop, strict D
# 0.10 -> 0.49), 0.63 (hubble, 0 -> 0), 0.43 (BSDS 101085 Type 2, 0 -> 0.82), 0.30 (rocket Type 2, 0 -> 0); 1.0 (the
# test runs of the fifth measurement) moved none of them
MAX_ROUNDS = 2

Cells = dict[tuple[int, int], int]


def _comp(tab: PieceTables, s: int, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mutual compatibility of pieces ``x`` on side ``s`` of pieces ``a`` (elementwise), as ``buddy_seams``."""
    d = tab.cost[s, a, x].astype(np.float64)
    both = 2.0 - d / np.maximum(tab.second[s, a], FLOOR) - d / np.maximum(tab.second[OPPOSITE[s], x], FLOOR)
    return 0.5 * np.maximum(both, -SEAM_CAP)


def _best_split(tab: PieceTables, g: np.ndarray, across: int, down: int) -> tuple[float, int, int, int, int]:
    """The best relayout of ``g`` (H, W) cut at an internal column seam: (gain, j, d, r, n), the gain in
    summed compatibility and the pairs of the seam it opens (H for a column seam, W for a row seam):
    columns ``j + 1 ..`` (B) first, then columns ``.. j`` (A) with its rows turned down by d, then every
    row turned up by r; j = -1 is no cut (only r, never 0: the best is always a change, so a solved
    layout's gain is negative). ``across`` / ``down``: the sides (``grow.SIDES``)
    of a grid column's right neighbour and a grid row's lower neighbour (1, 3; or 3, 1 on a transposed
    grid)."""
    h, w = g.shape
    hor = _comp(tab, across, g, np.roll(g, -1, axis=1))  # [i, c]: g[i, c] then g[i, c + 1 mod W]
    ver = _comp(tab, down, g, np.roll(g, -1, axis=0))  # [i, c]: g[i, c] then g[i + 1 mod H, c]
    inner_h = hor[:, :-1].sum(axis=0)  # per internal column seam
    ver_row = np.cumsum(ver, axis=1)  # [k, c]: row seam k summed over columns <= c
    ver_all = ver.sum()
    # the seam between B's last column (W - 1) and A's first (0) when A's rows are turned down by d:
    # B's row i beside A's row (i - d) mod H
    pair = _comp(tab, across, np.repeat(g[:, -1], h).reshape(h, h), np.tile(g[:, 0], h).reshape(h, h))
    idx = (np.arange(h)[:, None] - np.arange(h)[None, :]) % h  # [i, d] -> A's row
    join = pair[np.arange(h)[:, None], idx].sum(axis=0)  # (H,) over d
    r = np.arange(h)
    inner = inner_h.sum()
    base = inner + ver_all - ver_row[-1, -1]  # the layout as it is: the last row seam open
    k = int(np.argmin(ver_row[:-1, -1]))  # no cut: the rows turned so that the worst other row seam is open
    best = (float(ver_row[-1, -1] - ver_row[k, -1]), -1, 0, (k + 1) % h, w)
    for j in range(w - 1):
        va, vb = ver_row[:, j], ver_row[:, -1] - ver_row[:, j]  # per row seam, over A's and B's columns
        # rows turned up by rr: the row seam rr - 1 (in B's rows; in A's, rr - 1 - d) is opened
        cut = vb[(r[None, :] - 1) % h] + va[(r[None, :] - 1 - r[:, None]) % h]  # [d, rr]
        tot = inner - inner_h[j] + join[:, None] + ver_all - cut
        d, rr = np.unravel_index(int(np.argmax(tot)), tot.shape)
        if tot[d, rr] - base > best[0]:
            best = (float(tot[d, rr] - base), j, int(d), int(rr), h)
    return best


def _relayout(g: np.ndarray, j: int, d: int, r: int) -> np.ndarray:
    """The grid of ``_best_split``'s move (j, d, r)."""
    out = g if j < 0 else np.concatenate([g[:, j + 1:], np.roll(g[:, : j + 1], d, axis=0)], axis=1)
    return np.roll(out, -r, axis=0)


def _box(region: Cells) -> tuple[int, int, int, int]:
    """(top row, left column, rows, cols) of the layout's bounding box."""
    rows = [r for r, _ in region]
    cols = [c for _, c in region]
    r0, c0 = min(rows), min(cols)
    return r0, c0, max(rows) - r0 + 1, max(cols) - c0 + 1


def wrap_region(tab: PieceTables, region: Cells, margin: float | None = None) -> tuple[Cells, dict]:
    """A layout filling its bounding box, relaid by the best cyclic cut (``_best_split`` over columns and
    rows) while that gains more than ``margin`` (default ``MARGIN``) per pair of the opened seam; other
    layouts are returned unchanged. Returns (layout, {"moves": [[axis ("cols" or "rows"), j, d, r, gain
    per pair]], "rejected": the best relayout left out (same form; absent after ``MAX_ROUNDS`` moves),
    "before", "after": (best-buddy seams, mean compatibility)})."""
    margin = MARGIN if margin is None else margin
    r0, c0, h, w = _box(region)
    key = buddy_seams(tab, region)
    info = {"moves": [], "before": [key[0], round(key[1], 4)]}
    if len(region) != h * w or min(h, w) < 2:
        info["after"] = info["before"]
        return region, info
    g = np.empty((h, w), np.int64)
    for (r, c), p in region.items():
        g[r - r0, c - c0] = p
    for _ in range(MAX_ROUNDS):
        by_cols = _best_split(tab, g, 1, 3)
        by_rows = _best_split(tab, g.T, 3, 1)
        k = int(by_rows[0] > by_cols[0])  # the larger gain in summed compatibility
        gain, j, d, r, n = by_cols if k == 0 else by_rows
        if gain <= margin * n:  # recorded: how far the best relayout was from the margin
            info["rejected"] = ["cols" if k == 0 else "rows", j, d, r, round(gain / n, 4)]
            break
        g = _relayout(g, j, d, r) if k == 0 else _relayout(g.T, j, d, r).T
        info["moves"].append(["cols" if k == 0 else "rows", j, d, r, round(gain / n, 4)])
    if not info["moves"]:
        info["after"] = info["before"]
        return region, info
    out = {(r0 + int(r), c0 + int(c)): int(g[r, c]) for r in range(h) for c in range(w)}
    key = buddy_seams(tab, out)
    info["after"] = [key[0], round(key[1], 4)]
    return out, info


SEARCH_SEAMS = 2  # roll_search: rolls tried per axis per round, those opening the worst internal seams
SEARCH_ROUNDS = 2


def roll_search(tab: PieceTables, region: Cells, seams: int | None = None) -> tuple[Cells, dict]:
    """A full layout's rows (columns) turned so that one of its ``seams`` worst internal row (column)
    seams becomes the border, then polished (``polish.polish_region``); the best candidate by
    ``grow.buddy_seams`` replaces the layout when it beats it, up to ``SEARCH_ROUNDS`` rounds. For
    wraps a rigid relayout cannot undo (bands rolled by different amounts, scattered edge pieces):
    the polish that follows the roll refills them. Returns (layout, {"moves": [[axis, shift]],
    "before", "after"})."""
    from unshuffle.fragments.solver.polish import polish_region

    seams = SEARCH_SEAMS if seams is None else seams
    r0, c0, h, w = _box(region)
    key = buddy_seams(tab, region)
    info = {"moves": [], "before": [key[0], round(key[1], 4)]}
    if len(region) == h * w and min(h, w) >= 3:
        for _ in range(SEARCH_ROUNDS):
            g = np.empty((h, w), np.int64)
            for (r, c), p in region.items():
                g[r - r0, c - c0] = p
            best = None
            for axis, side in ((0, 3), (1, 1)):  # row seams (a piece below), column seams (a piece right)
                a, b = (g[:-1], g[1:]) if axis == 0 else (g[:, :-1], g[:, 1:])
                per_seam = _comp(tab, side, a, b).mean(axis=1 - axis)
                for j in np.argsort(per_seam, kind="stable")[:seams]:
                    rolled = np.roll(g, -(int(j) + 1), axis=axis)
                    cand = {(r0 + r, c0 + c): int(rolled[r, c]) for r in range(h) for c in range(w)}
                    cand, _ = polish_region(tab, cand)
                    got = buddy_seams(tab, cand)
                    if best is None or got > best[0]:
                        best = (got, cand, ["rows" if axis == 0 else "cols", int(j) + 1])
            if best is None or best[0] <= key:
                break
            key, region = best[0], best[1]
            info["moves"].append(best[2])
    info["after"] = [key[0], round(key[1], 4)]
    return region, info
