"""The jigsaw literature's per-image scores: strict and shiftable direct comparison, neighbour comparison, perfect.

Each true image is scored in the group holding most of its pieces (ties: the lowest group id).

- ``direct`` (strict D, the papers' measure): share of the image's pieces at their true cell, counted
  from the top-left of that group's canvas (its bounding box), with the right turn; with
  ``rotations`` the canvas may first be turned as a whole by its one best quarter turn.
- ``shiftable``: the same after the one best shift of the canvas as well (lenient D).
- ``neighbour`` (N): share of the image's true adjacent pairs (right of / below) that are in the
  image's group, side by side on the matching side, both with the right turn.
- ``perfect``: strict D is 1.

With ``rotations`` each measure takes its own best quarter turn of the group's canvas (strict D the
turn with most pieces at their true cell, shiftable D its best turn and shift, N the turn with most
true pairs kept), so one piece that lands on its true cell under a wrong turn cannot pull shiftable
D and N to that turn; ``turns`` records the three turns.

Pieces are identified by index, not by pixels (no credit for look-alike pieces). Higher is better.
Turns follow the package's convention: ``np.rot90(given, k=turn)`` is the piece upright.
"""

from __future__ import annotations

import numpy as np

from unshuffle.errors import ConfigError


def _turn_canvas(r: np.ndarray, c: np.ndarray, shape: tuple[int, int], q: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells (r, c) of an (H, W) canvas after ``np.rot90(canvas, q)`` (counter-clockwise quarter turns)."""
    h, w = shape
    q %= 4
    if q == 0:
        return r, c
    if q == 1:
        return w - 1 - c, r
    if q == 2:
        return h - 1 - r, w - 1 - c
    return c, h - 1 - r


def puzzle_scores(source: np.ndarray, row: np.ndarray, col: np.ndarray, turn: np.ndarray,
                  group: np.ndarray, prow: np.ndarray, pcol: np.ndarray, pturn: np.ndarray,
                  shapes: list[tuple[int, int]], rotations: bool) -> list[dict]:
    """Per true image (in increasing source id): {"image", "pieces", "group", "direct", "shiftable",
    "neighbour", "perfect", "turns"} (``turns``: the quarter turns of the canvas that strict D, shiftable D
    and N took, each its own best; all 0 without ``rotations``).

    source, row, col, turn: (M,) int64 truth; group, prow, pcol, pturn: (M,) int64 the solution's
    group, cell and turn of each piece; shapes: (rows, cols) of each group's canvas. rotations: the
    orientation was unknown (Type 2), so each group may be turned by one quarter turn first.
    """
    arrays = [np.asarray(a, np.int64) for a in (source, row, col, turn, group, prow, pcol, pturn)]
    m = arrays[0].shape[0]
    if m == 0 or any(a.shape != (m,) for a in arrays):
        raise ConfigError(f"puzzle_scores needs equal non-empty (M,) arrays, got {[a.shape for a in arrays]}")
    source, row, col, turn, group, prow, pcol, pturn = arrays
    qs = (0, 1, 2, 3) if rotations else (0,)
    out = []
    for s in np.unique(source):
        mine = np.flatnonzero(source == s)
        g = int(np.bincount(group[mine]).argmax())
        inside = mine[group[mine] == g]
        direct, shift, pairs = [], [], []  # per quarter turn of the canvas
        for q in qs:
            r2, c2 = _turn_canvas(prow[inside], pcol[inside], shapes[g], q)
            upright = (pturn[inside] + q) % 4 == turn[inside]
            direct.append(int((upright & (r2 == row[inside]) & (c2 == col[inside])).sum()))
            offsets = np.stack([row[inside] - r2, col[inside] - c2], axis=1)[upright]
            shift.append(int(np.unique(offsets, axis=0, return_counts=True)[1].max()) if len(offsets) else 0)
            pairs.append(_neighbours(mine, row, col, turn, group, prow, pcol, pturn, shapes, g, q))
        best = [int(np.argmax(v)) for v in (direct, shift, pairs)]  # ties: the first turn
        out.append({"image": int(s), "pieces": int(len(mine)), "group": g, "direct": direct[best[0]] / len(mine),
                    "shiftable": shift[best[1]] / len(mine), "neighbour": pairs[best[2]],
                    "perfect": direct[best[0]] == len(mine), "turns": [qs[b] for b in best]})
    return out


def _neighbours(mine, row, col, turn, group, prow, pcol, pturn, shapes, g: int, q: int) -> float:
    """Share of the image's true right/below pairs adjacent on the matching side in group ``g``."""
    cell = {(int(row[i]), int(col[i])): i for i in mine}
    hits = total = 0
    for i in mine:
        for dr, dc in ((0, 1), (1, 0)):
            j = cell.get((int(row[i]) + dr, int(col[i]) + dc))
            if j is None:
                continue
            total += 1
            if group[i] != g or group[j] != g:
                continue
            ok_turn = (pturn[i] + q) % 4 == turn[i] and (pturn[j] + q) % 4 == turn[j]
            ri, ci = _turn_canvas(prow[[i, j]], pcol[[i, j]], shapes[g], q)
            hits += bool(ok_turn and ri[1] - ri[0] == dr and ci[1] - ci[0] == dc)
    return hits / total if total else float("nan")


def summarise(per_image: list[dict]) -> dict:
    """Means of direct, shiftable and neighbour over images, and the count of perfect ones."""
    if not per_image:
        raise ConfigError("no images to summarise")
    mean = {k: float(np.nanmean([p[k] for p in per_image])) for k in ("direct", "shiftable", "neighbour")}
    return {**mean, "perfect": int(sum(p["perfect"] for p in per_image)), "images": len(per_image)}
