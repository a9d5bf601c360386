"""assemble_group: each fragment turned into its cell, grey gaps and empty cells, red marks, by hand."""

import numpy as np

from unshuffle.fragments.bags.solution import EMPTY_GREY, MARK_RED, Solution, assemble_group


def _fragments() -> np.ndarray:
    """Three 2x2 fragments with distinct pixel values (value = 10 * fragment + position)."""
    f = np.zeros((3, 2, 2, 3), np.uint8)
    for i in range(3):
        f[i] = (10 * i + np.arange(4).reshape(2, 2))[..., None]
    return f


def test_cells_turns_gap_and_empty_cell_by_hand():
    frags = _fragments()
    # group 0 on a 2x2 grid: fragment 0 at (0, 1) unturned, fragment 2 at (1, 0) turned once; (0, 0), (1, 1) empty
    sol = Solution(np.array([0, 1, 0]), np.array([0, 0, 1]), np.array([1, 0, 0]), np.array([0, 0, 1]),
                   np.ones(3), [(2, 2), (1, 1)])
    canvas = assemble_group(frags, sol, 0, gap=1)
    assert canvas.shape == (5, 5, 3)
    want = np.full((5, 5), EMPTY_GREY)
    want[0:2, 3:5] = [[0, 1], [2, 3]]
    want[3:5, 0:2] = np.rot90(np.array([[20, 21], [22, 23]]))  # [[21, 23], [20, 22]]
    assert np.array_equal(canvas[..., 0], want)
    assert np.array_equal(canvas[3:5, 0:2, 0], [[21, 23], [20, 22]])


def test_marked_fragments_are_framed_and_others_not():
    frags = np.zeros((2, 16, 16, 3), np.uint8)
    sol = Solution(np.zeros(2, np.int64), np.array([0, 0]), np.array([0, 1]), np.zeros(2, np.int64),
                   np.ones(2), [(1, 2)])
    canvas = assemble_group(frags, sol, 0, marked=np.array([False, True]))
    assert canvas.shape == (16, 32, 3)
    red = (canvas == MARK_RED).all(axis=-1)
    assert not red[:, :16].any()  # unmarked fragment untouched
    frame = np.zeros((16, 16), bool)
    frame[0, :] = frame[-1, :] = frame[:, 0] = frame[:, -1] = True  # width 16 // 16 = 1 px
    assert np.array_equal(red[:, 16:], frame)


def test_grouping_only_tiles_in_fragment_order():
    frags = _fragments()
    canvas = assemble_group(frags, Solution.grouping_only(np.zeros(3, np.int64)), 0)
    assert canvas.shape == (4, 4, 3)  # 3 members: 2 columns, 2 rows
    assert np.array_equal(canvas[0:2, 0:2, 0], frags[0, ..., 0])
    assert np.array_equal(canvas[0:2, 2:4, 0], frags[1, ..., 0])
    assert np.array_equal(canvas[2:4, 0:2, 0], frags[2, ..., 0])
    assert (canvas[2:4, 2:4] == EMPTY_GREY).all()
