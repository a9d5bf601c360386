"""Upright: turn each reassembled group as a whole to the quarter turn the upright model finds most likely.

Only used when fragments were turned (``rotations_``): a group then grows in whatever global turn its
first pieces had. Each group's canvas goes through the self-supervised upright model
(``fragments/learned/upright_model.py``: a frozen ImageNet trunk in ONNX Runtime and a small head trained
on rotation prediction); no labels are involved.
"""

from __future__ import annotations

import functools

import numpy as np

from unshuffle.fragments.bags.solution import Solution, assemble_group
from unshuffle.fragments.learned.upright_model import UprightModel, load_upright_model


def upright_model(model=None) -> UprightModel:
    """``model`` if it is an UprightModel, else the one at that path (None: shipped), loaded once per process."""
    return model if isinstance(model, UprightModel) else _load(None if model is None else str(model))


@functools.lru_cache(maxsize=4)
def _load(path: str | None) -> UprightModel:
    return load_upright_model(path)


def turn_cells(row: np.ndarray, col: np.ndarray, shape: tuple[int, int], q: int
               ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Cells and canvas shape after turning a (rows, cols) canvas ``q`` quarter turns CCW (``np.rot90``).

    row, col: (K,) int64 cells of the group's members. Returns the new (K,) row, col and (rows, cols).
    """
    rows, cols = shape
    for _ in range(q % 4):  # np.rot90 once sends (r, c) of a C-column grid to (C - 1 - c, r)
        row, col, rows, cols = cols - 1 - col, row, cols, rows
    return row, col, (rows, cols)


def turn_groups(solution: Solution, quarter_turns: np.ndarray) -> Solution:
    """A copy of a placed ``solution`` with group g's canvas turned ``quarter_turns[g]`` times CCW.

    Each member keeps its neighbours: its cell moves with the canvas and its own turn grows by q.
    quarter_turns: (n_groups,) int.
    """
    row, col, turn = solution.row.copy(), solution.col.copy(), solution.turn.copy()
    shapes = list(solution.shapes)
    for g, q in enumerate(np.asarray(quarter_turns, np.int64) % 4):
        if q == 0:
            continue
        mine = solution.group == g
        row[mine], col[mine], shapes[g] = turn_cells(row[mine], col[mine], tuple(shapes[g]), int(q))
        turn[mine] = (turn[mine] + q) % 4
    return Solution(solution.group.copy(), row, col, turn, solution.confidence.copy(), shapes,
                    dict(solution.settings))


def make_upright(fragments: np.ndarray, solution: Solution, model) -> tuple[Solution, dict]:
    """Turn every group of a placed ``solution`` to its most likely upright turn.

    fragments: (M, s, s, 3) uint8, the bag; model: an ``UprightModel``. Returns the turned solution and
    {"upright_turns": q per group, "upright_scores": the model's 4 log-probabilities per group}.
    """
    canvases = [assemble_group(fragments, solution, g) for g in range(solution.n_groups)]
    scores = model.turn_log_probs(canvases)
    qs = scores.argmax(axis=1) if len(scores) else np.zeros(0, np.int64)
    info = {"upright_turns": [int(q) for q in qs], "upright_scores": np.round(scores, 3).tolist()}
    return turn_groups(solution, qs), info
