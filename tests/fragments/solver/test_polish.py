"""Segment shifting (``polish.py``): segments of a hand-made table, and a real-photo layout with a band
shifted sideways or two pieces swapped, put right by the pass."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.fragments.solver import grow, polish


def _tables(right: np.ndarray, down: np.ndarray) -> grow.PieceTables:
    eye = np.eye(right.shape[0])
    p = right.shape[0]
    return grow.piece_tables([(right, eye), (down, eye)], np.arange(p), np.zeros(p, np.int64), False)


def test_segments_join_clear_best_buddies_only():
    """2 x 2 layout [[0, 1], [2, 3]]: 0 | 1 and 0 over 2 are clear mutual best matches (cost 1 against
    a second best of 30 or 50); 2 | 3 and 1 over 3 cost 1 too, but piece 3's left and top edges fit
    the other of pieces 1 and 2 nearly as well (cost 1.1: a flat edge). Without a margin every seam
    is a best-buddy seam (one segment); with a margin of 0.2 (1 is not below 0.8 x 1.1), piece 3 is a
    segment of its own."""
    inf = 50.0
    right = np.full((4, 4), inf)
    down = np.full((4, 4), inf)
    right[0, 1], down[0, 2] = 1.0, 1.0
    right[1, 0], down[2, 0] = 30.0, 30.0
    right[2, 3], right[1, 3], down[1, 3], down[2, 3] = 1.0, 1.1, 1.0, 1.1  # 3 is flat on its left and top
    tab = _tables(right, down)
    region = {(0, 0): 0, (0, 1): 1, (1, 0): 2, (1, 1): 3}
    assert polish.segments(tab, region) == [[(0, 0), (0, 1), (1, 0), (1, 1)]]
    assert polish.segments(tab, region, margin=0.2) == [[(0, 0), (0, 1), (1, 0)], [(1, 1)]]


@pytest.fixture(scope="module")
def chelsea():
    """The 12 x 18 pieces of chelsea at 24 px (216 pieces), their tables and the true layout."""
    import skimage.data

    from unshuffle.fragments.solver.compatibility import relation_features

    img = skimage.data.chelsea()
    piece, rows, cols = 24, 12, 18
    frags = img[:rows * piece, :cols * piece].reshape(rows, piece, cols, piece, 3).transpose(0, 2, 1, 3, 4)
    frags = np.ascontiguousarray(frags.reshape(-1, piece, piece, 3))
    m = len(frags)
    tab = grow.piece_tables(relation_features(frags, "prediction", 1.0), np.arange(m), np.zeros(m, np.int64), False)
    truth = {(f // cols, f % cols): f for f in range(m)}
    return tab, truth, rows, cols


def test_a_band_shifted_sideways_is_moved_back(chelsea):
    """The top 4 rows turned 3 columns right (their last 3 columns wrap round to the left): strict D
    of the layout 1 - 4 * 18 / 216 = 0.67. The band is one best-buddy segment; moved 3 columns left,
    with the wrapped 4 x 3 block refilled at its right, the layout is the picture again."""
    tab, truth, rows, cols = chelsea
    shifted = {(r, (c + 3) % cols if r < 4 else c): f for (r, c), f in truth.items()}
    assert sum(shifted[rc] == f for rc, f in truth.items()) == 216 - 4 * 18
    sizes = [len(s) for s in polish.segments(tab, shifted)]
    assert sizes[0] > 4 * 18 and 4 * 15 in sizes  # the rest of the picture, then the band's 4 x 15 block
    out, info = polish.polish_region(tab, shifted)
    assert out == truth
    assert info["moves"][0] == [4 * 15, 0, -3]  # the band's block, 0 rows and 3 columns back
    assert info["after"] > info["before"]


def test_swapped_pieces_are_refilled_and_a_solved_layout_is_kept(chelsea):
    tab, truth, _, _ = chelsea
    swapped = dict(truth)
    swapped[(5, 4)], swapped[(8, 13)] = truth[(8, 13)], truth[(5, 4)]
    out, info = polish.polish_region(tab, swapped)
    assert out == truth and info["moves"][0][0] == 0  # no segment moved: the loose pieces refilled
    out, info = polish.polish_region(tab, truth)
    assert out == truth and info["moves"] == [] and info["after"] == info["before"]


def test_a_layout_that_does_not_fill_its_box_is_left_alone(chelsea):
    tab, truth, _, _ = chelsea
    holed = {rc: f for rc, f in truth.items() if rc != (3, 3)}
    holed[(3, 3)] = truth[(5, 5)]
    del holed[(5, 5)]
    out, info = polish.polish_region(tab, holed)
    assert out == holed and info["rounds"] == 0


def test_a_scrambled_layout_is_left_alone(chelsea):
    """216 pieces laid out at random: no best-buddy segment near a fifth of them (``MIN_ANCHOR``)."""
    tab, truth, rows, cols = chelsea
    order = np.random.default_rng(0).permutation(rows * cols)
    scrambled = {(int(k) // cols, int(k) % cols): f for k, f in zip(order, range(rows * cols), strict=True)}
    out, info = polish.polish_region(tab, scrambled)
    assert out == scrambled and info["rounds"] == 0 and info["anchor"] < polish.MIN_ANCHOR * rows * cols


def test_a_layout_is_refilled_from_its_own_fragments_only(chelsea):
    """Two groups share the table (the picture's left and right halves, as the merging placer can leave
    one photo): the left half holds the right half's piece (5, 13) where its own (5, 4) belongs. The
    refill may move the left half's pieces but never draws (5, 4) in from the other group, which would
    put one fragment in two groups (found on a 925-piece bag: `solve` crashed, two fragments sharing a cell)."""
    tab, truth, _, cols = chelsea
    left = {rc: f for rc, f in truth.items() if rc[1] < cols // 2}
    left[(5, 4)] = truth[(5, 13)]
    out, _ = polish.polish_region(tab, left)
    assert sorted(out.values()) == sorted(left.values())
    assert truth[(5, 4)] not in out.values()
