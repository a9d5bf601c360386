"""Block relocation (``blocks.py``): a band of one photo glued to another photo's group along a bad seam goes
back to its own photo, and a right layout is left alone."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.fragments.solver import blocks, grow
from unshuffle.fragments.solver.placement import Assembler

ROWS, COLS = 8, 12


@pytest.fixture
def two_photos(chelsea_coffee):
    """Chelsea and coffee, each 8 x 12 pieces (``conftest.chelsea_coffee``): their seam tables."""
    return chelsea_coffee


def _assembler(tab: grow.PieceTables, regions: list[dict[tuple[int, int], int]]) -> Assembler:
    asm = Assembler(len(tab.owner), None, False)
    asm.clusters = {}
    for region in regions:
        grow.add_region(asm, tab, region)
    return asm


def _photo(k: int, rows: range) -> dict[tuple[int, int], int]:
    return {(r, c): k * ROWS * COLS + COLS * r + c for r in rows for c in range(COLS)}


def _layout(asm: Assembler, fragment: int) -> dict[int, tuple[int, int]]:
    """fragment -> (row, col) in the cluster holding ``fragment``, from its top-left corner."""
    cl = asm.clusters[asm.owner[fragment]]
    return {f: (r - cl.box[0], c - cl.box[2]) for f, (r, c, _) in cl.pos.items()}


def test_seam_fit_is_the_mean_of_both_directions(two_photos):
    """PieceTables.seam_fit against the tables by hand: piece 1 right of piece 0, piece 12 below piece 0."""
    tab = two_photos
    got = tab.seam_fit(np.array([0, 0]), np.array([1, 12]), np.array([1, 3]))
    want = [0.5 * (tab.compatibility_of(1, 0, 1) + tab.compatibility_of(0, 1, 0)),
            0.5 * (tab.compatibility_of(3, 0, 12) + tab.compatibility_of(2, 12, 0))]
    assert got == pytest.approx(want, rel=1e-6)


def test_a_glued_band_goes_back_to_its_photo(two_photos):
    """Coffee's top two rows (24 pieces) glued under chelsea (one group of 120), coffee's other six rows a
    group of 72: the band is the part cut off by a bad straight seam, its pieces are best buddies with
    coffee's group only, so it moves there, and both groups are laid out again: each photo whole and right."""
    tab = two_photos
    glued = _photo(0, range(ROWS))
    glued.update({(ROWS + r, c): f for (r, c), f in _photo(1, range(2)).items()})
    rest = _photo(1, range(2, ROWS))
    parts = blocks.weak_parts(tab, glued)
    band = frozenset((ROWS + r, c) for r in range(2) for c in range(COLS))
    assert band in [cells for cells, _, _ in parts]
    asm = _assembler(tab, [glued, rest])
    out = blocks.move_blocks(tab, asm, None, slack=0.03)
    assert [(mv["pieces"], mv["to"]) for mv in out["moves"]] == [(24, ROWS * COLS + 2 * COLS)]
    assert sorted(asm.clusters) == [0, ROWS * COLS + 2 * COLS]  # each group keeps its id
    assert sorted(asm.clusters[0].pos) == list(range(ROWS * COLS))
    for k in (0, 1):
        truth = {k * ROWS * COLS + COLS * r + c: (r, c) for r in range(ROWS) for c in range(COLS)}
        assert _layout(asm, k * ROWS * COLS) == truth


def test_right_layouts_and_turned_bags_are_left_alone(two_photos):
    """Both photos whole and right: no weak part moves; a bag of turned pieces is not touched."""
    tab = two_photos
    asm = _assembler(tab, [_photo(0, range(ROWS)), _photo(1, range(ROWS))])
    before = {h: dict(c.cells) for h, c in asm.clusters.items()}
    assert blocks.move_blocks(tab, asm, None, slack=0.03)["moves"] == []
    assert {h: dict(c.cells) for h, c in asm.clusters.items()} == before
    turned = Assembler(len(tab.owner) // 4, None, True)  # the tables hold 4 pieces per fragment
    assert blocks.move_blocks(tab, turned, None, slack=0.03)["moves"] == []


def _glued(tab: grow.PieceTables) -> Assembler:
    glued = _photo(0, range(ROWS))
    glued.update({(ROWS + r, c): f for (r, c), f in _photo(1, range(2)).items()})
    return _assembler(tab, [glued, _photo(1, range(2, ROWS))])


def test_a_move_whose_layouts_are_not_better_is_undone(two_photos, monkeypatch):
    """With a regrow that keeps the parked layout (the band left below coffee's last row, where its seams
    are as bad as before), the two groups gain no best-buddy seams: the move is undone, nothing changes."""
    tab = two_photos

    def keep(tab, asm, rotations, grid=None, slack=0.0):
        out = Assembler(len(asm.owner), None, rotations)
        out.clusters, out.trust = dict(asm.clusters), asm.trust.copy()
        return out, []

    monkeypatch.setattr(blocks, "regrow_groups", keep)
    asm = _glued(tab)
    before = {h: dict(c.cells) for h, c in asm.clusters.items()}
    out = blocks.move_blocks(tab, asm, None, slack=0.03)
    assert out["moves"] == [] and out["undone"] >= 1
    assert {h: dict(c.cells) for h, c in asm.clusters.items()} == before


def test_no_group_grows_past_the_frame(two_photos):
    """Coffee's group would hold 72 + 24 = 96 pieces laid 8 x 12: allowed in an 8 x 12 frame (and 12 x 8),
    not in 8 x 11 (too few cells) nor in 4 x 24 (enough cells, but the regrown photo does not fit)."""
    tab = two_photos
    for frame in ((ROWS, COLS), (COLS, ROWS)):
        assert len(blocks.move_blocks(tab, _glued(tab), frame, slack=0.03)["moves"]) == 1
    assert blocks.move_blocks(tab, _glued(tab), (ROWS, COLS - 1), slack=0.03)["moves"] == []
    out = blocks.move_blocks(tab, _glued(tab), (4, 24), slack=0.03)
    assert out["moves"] == [] and out["undone"] >= 1
