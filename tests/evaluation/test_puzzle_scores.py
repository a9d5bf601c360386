"""Strict and shiftable direct comparison, neighbour comparison and perfect, on hand-built 2x3 puzzles."""

import numpy as np
import pytest

from unshuffle.evaluation.puzzles import puzzle_scores, summarise

# one 2x3 image: piece k sits at (k // 3, k % 3), upright
ROW, COL = np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 2, 0, 1, 2])
SRC, TURN = np.zeros(6, np.int64), np.zeros(6, np.int64)


def score(prow, pcol, pturn=TURN, group=None, shapes=((2, 3),), rotations=False, turn=TURN):
    group = np.zeros(6, np.int64) if group is None else np.asarray(group)
    return puzzle_scores(SRC, ROW, COL, turn, group, np.asarray(prow), np.asarray(pcol), np.asarray(pturn),
                         list(shapes), rotations)[0]


def test_exact_solution_is_perfect():
    s = score(ROW, COL)
    assert s["direct"] == s["shiftable"] == s["neighbour"] == 1.0 and s["perfect"]


def test_shifted_solution_counts_only_for_shiftable():
    # the whole image one column to the right in a 2x4 canvas (an empty first column)
    s = score(ROW, COL + 1, shapes=((2, 4),))
    assert s["direct"] == 0.0 and s["shiftable"] == 1.0 and s["neighbour"] == 1.0 and not s["perfect"]


def test_swapped_pair():
    prow, pcol = ROW.copy(), COL.copy()
    pcol[[0, 1]] = pcol[[1, 0]]  # pieces 0 and 1 swapped
    s = score(prow, pcol)
    assert s["direct"] == pytest.approx(4 / 6) and s["shiftable"] == pytest.approx(4 / 6)
    # true pairs (7): 0-1 reversed, 1-2 and 0-3, 1-4 broken; 3-4, 4-5, 2-5 kept
    assert s["neighbour"] == pytest.approx(3 / 7)


def test_turned_group_counts_only_with_rotations():
    # the solution shows the image turned a quarter turn clockwise as a whole: canvas (3, 2)
    r2, c2 = COL, 1 - ROW  # np.rot90(canvas, -1): (r, c) -> (c, H - 1 - r)
    pturn = np.full(6, 3)  # each piece displayed turned the same way
    assert score(r2, c2, pturn, shapes=((3, 2),), rotations=True)["perfect"]
    assert score(r2, c2, pturn, shapes=((3, 2),), rotations=False)["direct"] == 0.0


def test_wrong_turn_of_one_piece():
    pturn = TURN.copy()
    pturn[5] = 2
    s = score(ROW, COL, pturn)
    assert s["direct"] == pytest.approx(5 / 6) and s["neighbour"] == pytest.approx(5 / 7)


def test_image_split_in_two_groups_is_scored_in_its_largest():
    group = [0, 0, 0, 0, 1, 1]
    s = score(ROW, COL, group=group, shapes=((2, 3), (2, 3)))
    assert s["group"] == 0 and s["direct"] == pytest.approx(4 / 6)
    assert summarise([s, {**s, "perfect": True}])["perfect"] == 1


def test_each_measure_takes_its_own_best_turn():
    # a 4x4 image placed one column to the right in a 4x5 canvas (strict 0, shiftable 1, N 1 at turn 0),
    # then piece (0, 0) moved to cell (0, 4) turned 3, where a quarter turn of the canvas ((r, c) ->
    # (4 - c, r)) puts it at its true cell upright, and the piece it displaced (true (0, 3)) to the
    # free cell (0, 0). One measure's turn for all three (the old scorer) gave strict 1/16, shiftable
    # 1/16 and N 0 (the quarter turn); each its own: strict 1/16 (quarter turn), shiftable 14/16 and N
    # 20/24 (no turn: the two moved pieces break the pairs (0,0)-(0,1), (0,0)-(1,0), (0,2)-(0,3), (0,3)-(1,3)).
    row, col = np.divmod(np.arange(16), 4)
    prow, pcol, pturn = row.copy(), col + 1, np.zeros(16, np.int64)
    pcol[0], pturn[0] = 4, 3  # true (0, 0)
    pcol[3] = 0  # true (0, 3), was at (0, 4)
    z = np.zeros(16, np.int64)
    s = puzzle_scores(z, row, col, z, z, prow, pcol, pturn, [(4, 5)], rotations=True)[0]
    assert s["direct"] == pytest.approx(1 / 16) and s["shiftable"] == pytest.approx(14 / 16)
    assert s["neighbour"] == pytest.approx(20 / 24) and s["turns"] == [1, 0, 0] and not s["perfect"]
    # orientation known: the canvas is not turned, strict D 0
    s = puzzle_scores(z, row, col, z, z, prow, pcol, pturn, [(4, 5)], rotations=False)[0]
    assert s["direct"] == 0.0 and s["shiftable"] == pytest.approx(14 / 16) and s["turns"] == [0, 0, 0]
