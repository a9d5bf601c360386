"""Mixed bags with the image count estimated: misfit relocation (``relocate.py``: pieces of one photo glued to
another photo's group go back to the holes they left), the regrow's slack frames (a count with a few cells to
spare), trim and fill's caps, and the rule that drops a frame joining two images another frame laid whole."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.fragments.solver import grow, relocate
from unshuffle.fragments.solver.placement import Assembler
from unshuffle.fragments.solver.regrow import slack_frames


def test_slack_frames_hold_the_count_with_few_empty_cells():
    """508 pieces, 3 % slack (at most 523 cells), at most 1.6 elongated: 19 x 27 = 513 and 20 x 26 = 520
    (21 x 25 = 525 is too many cells, 18 x 29 = 522 too elongated), fewest cells first, both ways round."""
    assert slack_frames(508, 0.03) == [(19, 27), (27, 19), (20, 26), (26, 20)]
    assert slack_frames(513, 0.0) == [(19, 27), (27, 19)]
    assert all(r * c >= 1000 and r * c <= 1030 and max(r, c) <= 1.6 * min(r, c) for r, c in slack_frames(1000, 0.03))


@pytest.fixture
def two_photos(chelsea_coffee):
    """Chelsea (8 x 12 pieces of 24 px) and coffee (8 x 12), 192 pieces, their tables (``conftest``), and
    each true layout's shape."""
    return chelsea_coffee, 2 * 8 * 12, 8, 12


def _assembler(m: int, regions: list[dict[tuple[int, int], int]]) -> Assembler:
    asm = Assembler(m, None, False)
    asm.clusters = {}
    for region in regions:
        grow.add_region(asm, tab_stub(m), region)
    return asm


def tab_stub(m: int) -> grow.PieceTables:
    """Only ``owner`` and ``turn`` are read by ``add_region``."""
    return grow.PieceTables(np.zeros((4, 1, 1)), np.zeros((4, 1), np.int64), np.zeros((4, 1)),
                            np.arange(m), np.zeros(m, np.int64))


def test_pieces_glued_to_the_wrong_photo_go_back_to_their_holes(two_photos):
    """Two coffee pieces (an inner one and one of its top row) sit on the right of chelsea's layout,
    outside its 8 x 12 frame, and coffee's layout has the two holes: both are moved home, and
    nothing else moves."""
    tab, m, rows, cols = two_photos
    chelsea = {(f // cols, f % cols): f for f in range(rows * cols)}
    coffee = {(f // cols, f % cols): rows * cols + f for f in range(rows * cols)}
    lost = [(3, 5), (0, 7)]
    strays = [coffee.pop(rc) for rc in lost]
    chelsea[(2, cols)] = strays[0]
    chelsea[(3, cols)] = strays[1]
    asm = _assembler(m, [chelsea, coffee])
    moves = relocate.relocate_misfits(tab, asm)
    assert sorted(mv[0] for mv in moves) == sorted(strays)
    home = asm.clusters[asm.owner[rows * cols]]
    assert all(home.cells[rc] == f for rc, f in zip(lost, strays, strict=True))
    assert asm.clusters[asm.owner[0]].box == (0, rows - 1, 0, cols - 1)
    assert len(asm.clusters) == 2 and sum(len(c.pos) for c in asm.clusters.values()) == m


def test_a_right_layout_is_left_alone(two_photos):
    """Both photos whole and right: no piece is a misfit, nothing moves."""
    tab, m, rows, cols = two_photos
    asm = _assembler(m, [{(f // cols, f % cols): k * rows * cols + f for f in range(rows * cols)} for k in (0, 1)])
    before = {h: dict(c.cells) for h, c in asm.clusters.items()}
    assert relocate.relocate_misfits(tab, asm) == []
    assert {h: dict(c.cells) for h, c in asm.clusters.items()} == before


def test_a_lone_piece_joins_the_hole_it_fits(two_photos):
    """A coffee piece left as a group of its own (a one-piece 'image') fills coffee's hole; the lone
    group disappears."""
    tab, m, rows, cols = two_photos
    coffee = {(f // cols, f % cols): rows * cols + f for f in range(rows * cols)}
    lone = coffee.pop((4, 4))
    chelsea = {(f // cols, f % cols): f for f in range(rows * cols)}
    asm = _assembler(m, [chelsea, coffee, {(0, 0): lone}])
    moves = relocate.relocate_misfits(tab, asm)
    assert [mv[0] for mv in moves] == [lone] and len(asm.clusters) == 2
    assert asm.clusters[asm.owner[lone]].cells[(4, 4)] == lone


def test_seam_fit_is_the_mean_of_both_directions(two_photos):
    """seam_fit against a hand computation from the tables: the mean over neighbours of the two
    directions' normalised compatibility."""
    tab, m, rows, cols = two_photos
    cells = {(0, 0): 0, (0, 2): 2, (1, 1): 13}
    got, n = relocate.seam_fit(tab, cells, 0, 1, 1)
    want = np.mean([0.5 * (tab.compatibility_of(1, 0, 1) + tab.compatibility_of(0, 1, 0)),
                    0.5 * (tab.compatibility_of(0, 2, 1) + tab.compatibility_of(1, 1, 2)),
                    0.5 * (tab.compatibility_of(2, 13, 1) + tab.compatibility_of(3, 1, 13))])
    assert n == 3 and got == pytest.approx(want)


def test_fill_caps_how_many_pieces_a_group_takes_back():
    """Chelsea's left 12 columns (96 pieces) are one group; coffee (96) the other, with chelsea's last two
    columns (16 pieces) glued on and distrusted. Trim and fill re-places those 16: without caps they
    all go to chelsea's right side, where they belong (chelsea's group grows to 112); with
    ``cap_slack=0.1`` chelsea's group takes back at most 96 + 10 and the rest goes elsewhere."""
    import skimage.data
    from puzzle_tables import dense_tables

    from unshuffle.fragments.solver.refine import trim_and_fill

    piece = 24

    def cut(img, rows, cols):
        f = img[:rows * piece, :cols * piece].reshape(rows, piece, cols, piece, 3).transpose(0, 2, 1, 3, 4)
        return f.reshape(-1, piece, piece, 3)

    cat, cup = cut(skimage.data.chelsea(), 8, 14), cut(skimage.data.coffee(), 8, 12)
    frags = np.ascontiguousarray(np.concatenate([cat, cup]))  # chelsea f = 14 r + c, then coffee
    m = len(frags)
    tables = dense_tables(frags)
    glued = [14 * r + c for r in range(8) for c in (12, 13)]

    def build() -> Assembler:
        asm = Assembler(m, (27, 27), rotations=False)
        for f in range(1, 112):  # chelsea's left 12 columns in place
            if f % 14 < 12:
                asm.apply(0, f, [(f, f // 14, f % 14, 0)])
        for f in range(113, m):  # coffee in place
            asm.apply(112, f, [(f, (f - 112) // 12, (f - 112) % 12, 0)])
        for f in glued:  # chelsea's last two columns right of coffee
            asm.apply(112, f, [(f, f // 14, f % 14, 0)])
        asm.trust[:] = 1.0
        asm.trust[glued] = 0.0
        return asm

    free = build()
    trim_and_fill(free, tables, False, 0.5)
    assert len(free.clusters[free.owner[0]].pos) == 112
    assert all(free.clusters[free.owner[0]].pos[f][:2] == (f // 14, f % 14) for f in glued)
    capped = build()
    trim_and_fill(capped, tables, False, 0.5, cap_slack=0.1)
    assert len(capped.clusters[capped.owner[0]].pos) == 96 + 10
    assert sum(len(c.pos) for c in capped.clusters.values()) == m


def _laid(m: int, groups: list[list[tuple[int, int, int]]]) -> Assembler:
    """An Assembler (no frame) holding ``groups`` of (fragment, row, col)."""
    asm = Assembler(m, None, False)
    for g in groups:
        host = g[0][0]
        for f, r, c in g[1:]:
            asm.apply(host, f, [(f, r - g[0][1], c - g[0][2], 0)])
    return asm


def test_filled_rectangles_and_a_frame_that_joins_them():
    """Frame A (12 x 15) laid two images of 10 x 12 = 120 pieces as full rectangles (a 150-piece group with
    a hole is not one; under a 16 x 16 frame they would be parts); frame B joined both into one group:
    B joins two of A's images; A itself, and a frame C that moved 20 other pieces, join none; D glues one
    of A's images to A's other large group (not whole): joining, when that group is given."""
    from unshuffle.fragments.solver.frames import filled_rectangles, joins_two

    one = [(f, f // 12, f % 12) for f in range(120)]
    two = [(120 + f, f // 12, f % 12) for f in range(120)]
    holed = [(240 + f, f // 15, f % 15) for f in range(151) if f != 17]  # 150 pieces in 11 x 15 = 165 cells
    m = 240 + 151
    a = _laid(m, [one, two, holed])
    none = np.zeros((0, 5))  # no candidate seam leads out of any group: every large group is closed
    wholes = filled_rectangles(a, (12, 15), none)
    assert sorted(len(w) for w in wholes) == [120, 120]
    assert filled_rectangles(a, (16, 16), none) == []  # 120 pieces are under half of a 16 x 16 frame: parts
    # clear seams from every piece of image one's right column to image two: a part cut off, not whole
    cut = np.array([[0.1, 12 * r + 11, 0, 120 + 12 * r, 0] for r in range(10)])
    assert sorted(len(w) for w in filled_rectangles(a, (12, 15), cut)) == []
    b = _laid(m, [one + [(f, r, c + 12) for f, r, c in two], holed])
    assert joins_two(b, wholes)
    assert not joins_two(a, wholes)  # A keeps its own two images apart
    c = _laid(m, [one, two + [(f, r, c + 12) for f, r, c in holed[:20]], holed[20:]])
    assert not joins_two(c, wholes)  # a few pieces moved between groups join nothing
    d = _laid(m, [one + [(f, r, c + 12) for f, r, c in holed], two])  # a whole image glued to a large part
    others = [np.array([f for f, _, _ in holed])]
    assert joins_two(d, wholes, others) and not joins_two(d, wholes)


def test_strays_go_home_turned_with_their_group():
    """Under rotations: coffee's layout lies turned K quarter turns (its pieces ``4 f + K`` at the turned
    cells), and three of its pieces sit beside chelsea in other turns. Each goes back to its turned home
    cell with the group's turn, for every K."""
    import skimage.data

    from unshuffle.fragments.solver import compatibility as compat
    from unshuffle.fragments.solver.placement import rotate_offset

    piece, rows, cols = 24, 8, 12
    frags = np.ascontiguousarray(np.concatenate([
        img[:rows * piece, :cols * piece].reshape(rows, piece, cols, piece, 3).transpose(0, 2, 1, 3, 4)
        .reshape(-1, piece, piece, 3) for img in (skimage.data.chelsea(), skimage.data.coffee())]))
    m = len(frags)
    pieces = np.stack([np.rot90(frags, k, axes=(1, 2)) for k in range(4)], axis=1).reshape(4 * m, piece, piece, 3)
    q, k = compat.edge_features(compat.rgb_to_lab(np.ascontiguousarray(pieces)), "prediction", 1.0)
    tab = grow.piece_tables([(q, k)], np.repeat(np.arange(m), 4), np.tile(np.arange(4), m), True)
    for turn in range(4):
        chelsea = {(f // cols, f % cols): 4 * f for f in range(rows * cols)}
        coffee = {rotate_offset(f // cols, f % cols, turn): 4 * (rows * cols + f) + turn for f in range(rows * cols)}
        homes = [rotate_offset(r, c, turn) for r, c in ((3, 5), (0, 7), (6, 2))]
        strays = [coffee.pop(rc) // 4 for rc in homes]
        for i, (f, t) in enumerate(zip(strays, (1, 2, 3), strict=True)):
            chelsea[(2 + i, cols)] = 4 * f + (turn + t) % 4  # beside chelsea, in another turn
        asm = Assembler(m, None, True)
        asm.clusters = {}
        for region in (chelsea, coffee):
            grow.add_region(asm, tab, region)
        moves = relocate.relocate_misfits(tab, asm)
        assert sorted(mv[0] for mv in moves) == sorted(strays), turn
        home = asm.clusters[asm.owner[rows * cols]]
        assert all(home.pos[f] == (*rc, turn) for f, rc in zip(strays, homes, strict=True)), turn
        assert asm.clusters[asm.owner[0]].box == (0, rows - 1, 0, cols - 1)


class _Wholes:
    """A count's whole images (``KeepApart.holds`` only): the extents (rows, cols) it found."""

    def __init__(self, *extents: tuple[int, int]):
        self.extents = extents

    def holds(self, frame: tuple[int, int], rotations: bool) -> bool:
        return all(h <= frame[0] and w <= frame[1] for h, w in self.extents)


def test_rejected_frames_trust_only_frames_that_join_nothing():
    """Frame A (12 x 15) laid two closed 10 x 12 images; frame B (17 x 17) glued them into one group and its
    count reported a 'whole image' of 12 x 16 that A cannot hold: B is rejected for joining, and its
    claim does not reject A. With clear seams leading out of A's rectangles (they are parts cut by a
    frame too small), B's whole image rejects A instead and B is kept."""
    from unshuffle.fragments.solver.frames import rejected_frames

    one = [(f, f // 12, f % 12) for f in range(120)]
    two = [(120 + f, f // 12, f % 12) for f in range(120)]
    a, b = _laid(240, [one, two]), _laid(240, [one + [(f, r, c + 12) for f, r, c in two]])
    results, wholes = [((12, 15), a), ((17, 17), b)], [None, _Wholes((12, 16))]
    assert rejected_frames(results, wholes, False, np.zeros((0, 5))) == ([], [1])
    cut = np.array([[0.1, 12 * r + 11, 0, 120 + 12 * r, 0] for r in range(10)])
    assert rejected_frames(results, wholes, False, cut) == ([0], [])
