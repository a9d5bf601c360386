"""Solver parts on hand-built cases: the placer's geometry, trim-and-fill, dense scores, estimates."""

from __future__ import annotations

import numpy as np
import pytest
from puzzle_tables import dense_tables

from unshuffle.fragments.solver import compatibility as compat
from unshuffle.fragments.solver.candidates import top_candidates
from unshuffle.fragments.solver.cells import core_extent, place_together
from unshuffle.fragments.solver.estimate import (
    count_images,
    frame_from_count,
    join_by_looks,
)
from unshuffle.fragments.solver.finishing import colour_histograms
from unshuffle.fragments.solver.placement import Assembler, rotate_offset
from unshuffle.fragments.solver.refine import dense_scores, trim_and_fill


def _photo_pieces(g: int = 4, size: int = 64) -> np.ndarray:
    from unshuffle.data.embedded import demo_images

    img = demo_images(size).image(0)
    s = size // g
    return np.stack([img[s * r:s * r + s, s * c:s * c + s] for r in range(g) for c in range(g)])


def test_rotate_offset_follows_np_rot90():
    a = np.zeros((3, 3), int)
    a[1, 2] = 1  # right of the centre
    for k in range(4):
        r, c = np.argwhere(np.rot90(a, k))[0] - 1
        assert rotate_offset(0, 1, k) == (r, c)


def test_assembler_merges_translate_turn_and_refuse_collisions_and_frame():
    asm = Assembler(4, (2, 2), rotations=True)
    assert asm.merge_edge(0, 0, 1, 0, rel=0)  # 1 right of 0
    assert asm.merge_edge(0, 0, 2, 0, rel=1)  # 2 below 0
    assert not asm.merge_edge(0, 0, 3, 0, rel=0)  # the cell right of 0 is taken
    # 3 turned once, sitting below piece 1 turned once -> 3 must be turned so it reads upright
    assert asm.merge_edge(1, 1, 3, 1, rel=0)  # in 1's turned frame, 3 is to the right: below 1 unturned
    assert asm.n_clusters == 1
    group, row, col, turn, shapes = asm.layout()
    assert shapes == [(2, 2)]
    assert (row[3], col[3], turn[3]) == (1, 1, 0)
    small = Assembler(3, (1, 2), rotations=False)
    assert small.merge_edge(0, 0, 1, 0, rel=0)
    assert not small.merge_edge(1, 0, 2, 0, rel=0)  # a third column leaves the 1x2 frame


def test_dense_scores_agree_with_candidates():
    frags = _photo_pieces()
    owner = np.arange(len(frags))
    q, k = compat.edge_features(compat.rgb_to_lab(frags))
    c = top_candidates(q, k, owner, k=3)
    table = dense_scores(q, k, c.row_second, c.col_second, owner)
    np.testing.assert_allclose(table[c.i, c.j], c.score, rtol=1e-9)
    assert np.isinf(np.diag(table)).all()


def test_trim_and_fill_puts_a_distrusted_fragment_back():
    frags = _photo_pieces()
    m = len(frags)
    tables = dense_tables(frags)
    asm = Assembler(m, (4, 4), rotations=False)
    for f in range(1, m):  # the true layout ...
        r, col = divmod(f, 4)
        asm.apply(0, f, [(f, r, col, 0)])
    # ... except fragments 5 and 10 swapped, and marked as joined by a doubtful merge
    cl = asm.clusters[0]
    cl.pos[5], cl.pos[10] = (2, 2, 0), (1, 1, 0)
    cl.cells[(2, 2)], cl.cells[(1, 1)] = 5, 10
    asm.trust[[5, 10]] = 0.1
    trim_and_fill(asm, tables, rotations=False, min_trust=0.3)
    assert asm.clusters[0].pos[5][:2] == (1, 1) and asm.clusters[0].pos[10][:2] == (2, 2)
    assert asm.trust[5] > 0.1 and asm.trust[10] > 0.1


@pytest.mark.parametrize(("sizes", "m", "grid", "expect"), [
    ([16, 16, 7, 3, 1], 43, (4, 4), 3),  # 7 >= 0.4 * 16 counts, 3 and 1 do not
    ([2, 1], 3, (4, 4), 1),  # at least one image
    ([16, 16, 16], 48, (2, 2), 12),  # at least enough frames for every fragment
])
def test_count_images(sizes, m, grid, expect):
    assert count_images(sizes, m, grid, min_share=0.4) == expect


def _block(rows: range, cols: range) -> np.ndarray:
    return np.array([(r, c) for r in rows for c in cols])


def test_halves_that_tile_one_frame_count_as_one_image():
    full, top, bottom = _block(range(4), range(4)), _block(range(2), range(4)), _block(range(2), range(4))
    sizes, shapes = [16, 16, 8, 8], [full, full, top, bottom]
    assert count_images(sizes, 48, (4, 4), 0.4) == 4  # sizes alone: four clusters of >= 6.4 fragments
    assert count_images(sizes, 48, (4, 4), 0.4, shapes=shapes) == 3  # the two 2x4 halves fill one 4x4 frame
    # most counted clusters incomplete (pieces missing): halves are not joined
    assert count_images([16, 14, 13, 8, 8], 59, (4, 4), 0.4, shapes=[full, full[:14], full[:13], top, bottom]) == 5
    # two 3x4 parts hold 24 > 16 fragments: never one image, whatever their shapes
    assert count_images([12, 12], 24, (4, 4), 0.4, shapes=[_block(range(3), range(4))] * 2) == 2


def _hist(colour: int, bins: int = 4) -> np.ndarray:
    h = np.zeros(bins)
    h[colour] = 1.0
    return h


def test_parts_join_by_their_colours_when_they_fit():
    """Four parts of a 4x4 frame, each fits beside any other: the colours decide the pairs."""
    a, c = _block(range(4), range(2))[:7], _block(range(4), range(2))[:6]  # left halves, 7 and 6 cells
    b, d = _block(range(4), range(2, 4))[:5], _block(range(4), range(2, 4))[:4]  # right halves, 5 and 4
    shapes, sizes = [a, b, c, d], [7, 5, 6, 4]
    red, blue = _hist(0), _hist(3)
    assert sorted(join_by_looks(sizes, shapes, np.stack([red, red, blue, blue]), (4, 4))) == [10, 12]
    assert sorted(join_by_looks(sizes, shapes, np.stack([red, blue, blue, red]), (4, 4))) == [11, 11]
    # half-and-half histograms: a part of one image shares its palette
    mixed = np.stack([red + 0.2 * blue, red, blue, blue + 0.1 * red])
    assert sorted(join_by_looks(sizes, shapes, mixed, (4, 4))) == [10, 12]
    # nothing joins when no two parts fit one frame (two 3x4 parts), nor under the least similarity
    three = _block(range(3), range(4))
    assert sorted(join_by_looks([12, 12], [three, three], np.stack([red, red]), (4, 4))) == [12, 12]
    assert sorted(join_by_looks(sizes, shapes, np.stack([red, red, blue, blue]), (4, 4), min_similarity=1.5)) \
        == [4, 5, 6, 7]
    # parts under 3 fragments are left out
    assert join_by_looks([2, 7], [a[:2], b], np.stack([red, red]), (4, 4)) == [7]


def test_joins_of_three_and_four_parts_keep_their_shapes():
    """Each join is recorded where it was placed: four quadrants (or four rows) of one 4x4 image make one
    group of 16, three 1x2 parts fill a 3x2 frame, and turned parts join under ``rotations``."""
    red = np.stack([_hist(0)] * 4)
    quads = [_block(range(r, r + 2), range(c, c + 2)) for r in (0, 2) for c in (0, 2)]
    assert join_by_looks([4] * 4, quads, red, (4, 4)) == [16]
    rows = [_block(range(r, r + 1), range(4)) for r in range(4)]
    assert join_by_looks([4] * 4, rows, red, (4, 4)) == [16]
    pairs = [_block(range(1), range(2))] * 3
    assert join_by_looks([2] * 3, pairs, red[:3], (3, 2)) == []  # parts under 3 fragments are left out
    bars = [_block(range(1), range(3))] * 3  # three 1x3 bars fill a 3x3 frame
    assert join_by_looks([3] * 3, bars, red[:3], (3, 3)) == [9]
    bar, column = _block(range(1), range(4)), _block(range(4), range(1))  # a 2x4 frame: the column must turn
    assert sorted(join_by_looks([4, 4], [bar, column], red[:2], (2, 4))) == [4, 4]
    assert join_by_looks([4, 4], [bar, column], red[:2], (2, 4), rotations=True) == [8]


def test_shape_packing_keeps_three_parts_in_one_frame():
    """Whole images plus the four quadrants of a fifth image: 5 images (the quadrants fill one frame)."""
    full = _block(range(4), range(4))
    quads = [_block(range(r, r + 2), range(c, c + 2)) for r in (0, 2) for c in (0, 2)]
    sizes, shapes = [16] * 4 + [4] * 4, [full] * 4 + quads
    assert count_images(sizes, 80, (4, 4), 0.25, shapes=shapes) == 5


def test_count_with_looks_when_no_cluster_is_large():
    """Four images each in three parts of 3 fragments (no cluster reaches 40 % of a frame): joined by
    colour they are four images of 9, not the 3 frames that the fragments need at least."""
    thirds = [_block(range(r, r + 1), range(3)) for r in range(3)]
    sizes, shapes = [3] * 12, thirds * 4
    looks = np.stack([_hist(i) for i in range(4) for _ in range(3)])
    assert count_images(sizes, 36, (4, 4), 0.4, shapes=shapes, looks=looks) == 4


def test_count_with_looks_joins_parts_of_incomplete_images():
    """20 % missing: no cluster is whole. By size, the 7-piece parts of two images count as 4 images;
    joined by colour, the two red parts and the two blue parts are 2."""
    a, b = _block(range(4), range(2))[:7], _block(range(4), range(2, 4))[:7]
    shapes, sizes = [a, b, a, b], [7, 7, 7, 7]
    looks = np.stack([_hist(0), _hist(0), _hist(3), _hist(3)])
    assert count_images(sizes, 28, (4, 4), 0.4, shapes=shapes) == 4
    assert count_images(sizes, 28, (4, 4), 0.4, shapes=shapes, looks=looks) == 2


def test_colour_histograms_by_hand():
    lab = np.zeros((3, 2, 2, 3))
    lab[0] = (50.0, 0.0, 0.0)  # bins (3, 3, 3) of 6: code (3 * 6 + 3) * 6 + 3 = 129
    lab[1] = (100.0, -80.0, 59.9)  # L = 100 and a < -60 fall in the end bins: (5, 0, 5) -> 185
    lab[2, 0, 0] = (0.0, 0.0, 0.0)  # (0, 3, 3) -> 21; the other three pixels stay (0, 0, 0) too
    owner = np.array([0, 1, 2])
    h = colour_histograms(lab, owner)
    assert h.shape == (3, 216) and h.sum(axis=1).tolist() == [4, 4, 4]
    assert h[0, 129] == 4 and h[1, 185] == 4 and h[2, 21] == 4
    # turned copies of a fragment (several pieces per owner) count once
    assert colour_histograms(np.concatenate([lab, lab]), np.array([0, 1, 2, 0, 1, 2])).tolist() == h.tolist()


def test_place_together_by_hand():
    top = _block(range(2), range(4))
    placed = place_together(top, top, (4, 4))
    assert placed is not None and sorted(map(tuple, placed.tolist())) in (
        sorted(map(tuple, _block(range(2, 4), range(4)).tolist())),
        sorted(map(tuple, _block(range(-2, 0), range(4)).tolist())))
    ell = np.array([(0, 0), (1, 0), (2, 0), (2, 1)])  # 3x2 L: two fill a 4x2 frame only with a half turn
    assert place_together(ell, ell, (4, 2)) is None
    assert place_together(ell, ell, (4, 2), rotations=True) is not None
    assert place_together(ell, ell, (4, 2), overlap=1) is None  # still two collisions without the turn
    assert place_together(_block(range(3), range(4)), top, (4, 4)) is None  # 3 + 2 rows do not fit 4
    assert place_together(_block(range(3), range(4)), top, (4, 4), overlap=4) is not None  # one row forgiven


@pytest.mark.parametrize(("cells", "extent", "expect"), [
    (672, (15, 22), (21, 32)),  # 21x32, 24x28 and 16x42 hold 15x22; 21x32 has the closest aspect
    (600, (20, 30), (20, 30)),  # 24x25 is squarer but does not hold a cluster 30 wide
    (625, (25, 20), (25, 25)),  # 5x125 is too elongated
    (432, (20, 18), (24, 18)),  # a portrait cluster gets the portrait frame
    (16, (1, 1), (4, 4)),  # a lone piece says nothing: the squarest pair
    (431, (10, 30), (12, 36)),  # a prime count: the smallest frame of >= 431 cells holding 10x30 (432)
    (12, (3, 5), (3, 5)),  # a cluster larger than the count (extra pieces): the cluster itself
])
def test_frame_from_count(cells, extent, expect):
    assert frame_from_count(cells, extent) == expect


def test_core_extent_ignores_a_thin_arm():
    block = [(r, c) for r in range(10) for c in range(12)]
    arm = [(0, 12 + k) for k in range(5)]  # 5 of 125 cells: a wrong merge grown out of the top row
    assert core_extent(block + arm) == (10, 12)
    assert core_extent(block + arm, share=1.0) == (10, 17)
    assert core_extent([(3, 4)]) == (1, 1)


def test_window_frames_and_the_best_window():
    from unshuffle.fragments.solver.window import best_window, factor_frames

    assert factor_frames(12) == [(2, 6), (3, 4), (4, 3), (6, 2)]  # 1x12 is too elongated
    assert factor_frames(12, slack=1) == [(2, 6), (3, 4), (4, 3), (6, 2)]  # 11 and 13 add only 1xN
    assert (4, 4) in factor_frames(15, slack=1) and (3, 5) in factor_frames(15, slack=1)
    cells = {(r, c): 4 * r + c for r in range(3) for c in range(4)}
    cells[(0, 5)] = 12  # a stray piece one cell off the 3x4 block
    weight = np.ones(13)
    held, frame, r0, c0 = best_window(cells, weight, factor_frames(13, slack=1))
    assert (held, frame, (r0, c0)) == (12.0, (3, 4), (0, 0))  # 3x4 holds 12 and leaves no hole
    held, frame, r0, c0 = best_window(cells, weight, [(2, 6), (3, 6)])
    assert (frame, held) == ((3, 6), 13.0)  # 3*13 - 18 = 21 beats 3*9 - 12 = 15
