"""Geometry of clusters' cells: core extents, connected parts, two clusters laid in one frame, a part that squares
off an image."""

from __future__ import annotations

import numpy as np

CORE_SHARE = 0.95  # a cluster's core extent holds this share of its cells along each axis
COMPLETE_FILL = 0.95  # completes: the share of a rectangle a large cluster and a small one must fill together


def core_extent(cells: list[tuple[int, int]] | np.ndarray, share: float = CORE_SHARE) -> tuple[int, int]:
    """(rows, cols) of a cluster's core: along each axis the shortest run of rows (columns) holding
    at least ``share`` of its cells, so that a thin arm grown by a wrong merge does not stretch it.
    cells: (row, col) pairs, as a list or a (k, 2) array."""
    rc = np.array(cells, np.int64).reshape(-1, 2)
    out = []
    for axis in (0, 1):
        counts = np.bincount(rc[:, axis] - rc[:, axis].min())
        need = share * rc.shape[0]
        csum = np.concatenate([[0], np.cumsum(counts)])
        best = counts.size
        for lo in range(counts.size):  # shortest window [lo, hi) with enough cells
            hi = int(np.searchsorted(csum, csum[lo] + need - 1e-9))
            if hi <= counts.size:
                best = min(best, hi - lo)
        out.append(max(1, best))
    return out[0], out[1]


def components(cells: list[tuple[int, int]], joined: list[tuple[tuple[int, int], tuple[int, int]]]
               ) -> list[list[tuple[int, int]]]:
    """The cells split into the parts that the ``joined`` pairs of cells connect (union-find): each part's
    cells in the order of ``cells``, the parts in the order of their first cell there."""
    parent = {cell: cell for cell in cells}

    def find(x: tuple[int, int]) -> tuple[int, int]:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p, q in joined:
        parent[find(p)] = find(q)
    parts: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for cell in cells:
        parts.setdefault(find(cell), []).append(cell)
    return list(parts.values())


def place_together(a: np.ndarray, b: np.ndarray, frame: tuple[int, int], rotations: bool = False,
                   overlap: int = 0) -> np.ndarray | None:
    """Cells of ``b`` ((k, 2) row/col) shifted (and, with ``rotations``, turned by quarter turns; the
    frame may then be transposed) so that ``a`` and ``b`` lie in one ``frame`` (rows, cols) sharing at
    most ``overlap`` cells, in ``a``'s coordinates after moving ``a`` to start at (0, 0); None when
    there is no such placement."""
    frames = [tuple(frame)] + ([(frame[1], frame[0])] if rotations and frame[0] != frame[1] else [])
    a = np.asarray(a) - np.asarray(a).min(axis=0)
    ha, wa = a.max(axis=0) + 1
    for k in range(4 if rotations else 1):
        bk = np.asarray(b) @ np.linalg.matrix_power(np.array([[0, 1], [-1, 0]]), k)  # (r, c) -> (-c, r) per turn
        bk = bk - bk.min(axis=0)
        hb, wb = bk.max(axis=0) + 1
        for fr, fc in frames:
            if ha > fr or wa > fc or hb > fr or wb > fc:
                continue
            grid_a = np.zeros((fr * 3, fc * 3), dtype=bool)  # a at (fr, fc): room for b on every side
            grid_a[a[:, 0] + fr, a[:, 1] + fc] = True
            for dr in range(ha - fr, fr - hb + 1):  # b's top relative to a's
                for dc in range(wa - fc, fc - wb + 1):
                    if max(ha, dr + hb) - min(0, dr) > fr or max(wa, dc + wb) - min(0, dc) > fc:
                        continue
                    if grid_a[bk[:, 0] + dr + fr, bk[:, 1] + dc + fc].sum() <= overlap:
                        return bk + np.array([dr, dc])
    return None


def join_cells(a: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """Cells of ``a`` and of a part placed beside it by :func:`place_together` (which returns them in
    ``a``'s coordinates after moving ``a`` to start at (0, 0)), moved together to start at (0, 0)."""
    both = np.concatenate([np.asarray(a) - np.asarray(a).min(axis=0), placed])
    return both - both.min(axis=0)


def completes(large: np.ndarray, small: np.ndarray, rotations: bool = False) -> bool:
    """Whether cells ``small`` laid beside or into ``large`` (colliding on at most a tenth of ``small``'s
    cells) square it off: the union fills at least ``COMPLETE_FILL`` of a rectangle, and ``small`` that
    share of the rectangle's cells outside ``large``'s box (a band along a whole side, or a notch inside
    the box), as the band of an image cut off along weak seams does and a small image of its own laid
    beside a large one rarely does. With ``rotations`` the small one may be turned by quarter turns."""
    large, small = np.asarray(large), np.asarray(small)
    hl, wl = np.ptp(large, axis=0) + 1
    hs, ws = np.ptp(small, axis=0) + 1
    if rotations:  # turned, either side may extend either of large's
        hs = ws = max(hs, ws)
    overlap = len(small) // 10
    union = len(large) + len(small) - overlap  # at least this many cells are covered
    for fr in range(hl, hl + hs + 1):
        for fc in range(wl, wl + ws + 1):
            outside = fr * fc - hl * wl  # cells the small one must fill on its own
            if union < COMPLETE_FILL * fr * fc or len(small) < COMPLETE_FILL * outside:
                continue
            if place_together(large, small, (fr, fc), rotations, overlap) is not None:
                return True
    return False
