"""Cyclic-wrap correction (``wrap.py``): a real-photo layout cut in the wrong place (columns or rows rolled,
the two parts at different offsets) relaid exactly; a solved layout and a layout with a hole left alone."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.fragments.solver import grow, wrap

ROWS, COLS = 12, 18


@pytest.fixture(scope="module")
def chelsea():
    """The 12 x 18 pieces of chelsea at 24 px (216 pieces), their tables and the true layout as a grid."""
    import skimage.data

    from unshuffle.fragments.solver.compatibility import relation_features

    img = skimage.data.chelsea()
    piece = 24
    frags = img[:ROWS * piece, :COLS * piece].reshape(ROWS, piece, COLS, piece, 3).transpose(0, 2, 1, 3, 4)
    frags = np.ascontiguousarray(frags.reshape(-1, piece, piece, 3))
    m = len(frags)
    tab = grow.piece_tables(relation_features(frags, "prediction", 1.0), np.arange(m), np.zeros(m, np.int64), False)
    return tab, np.arange(m).reshape(ROWS, COLS)


def _cells(g: np.ndarray, top: int = 0, left: int = 0) -> dict[tuple[int, int], int]:
    return {(top + r, left + c): int(g[r, c]) for r in range(g.shape[0]) for c in range(g.shape[1])}


def test_a_solved_layout_is_left_alone(chelsea):
    tab, truth = chelsea
    out, info = wrap.wrap_region(tab, _cells(truth, 3, -2))
    assert out == _cells(truth, 3, -2) and info["moves"] == [] and info["after"] == info["before"]
    assert info["rejected"][4] < -wrap.MARGIN  # every relayout loses: the photo's edges are its worst seams


def test_columns_rolled_are_rolled_back(chelsea):
    """The picture's columns turned 5 to the right (its last 5 columns first, strict D 0): the worst
    column seam is between layout columns 4 and 5 (the photo's right edge against its left edge), so
    the layout is cut there (j = 4) and laid out again, no row offset, no rows turned; it is the
    picture again, on the same cells."""
    tab, truth = chelsea
    rolled = np.roll(truth, 5, axis=1)
    assert not (rolled == truth).any()
    out, info = wrap.wrap_region(tab, _cells(rolled, 3, -2))
    assert out == _cells(truth, 3, -2)
    assert [m[:4] for m in info["moves"]] == [["cols", 4, 0, 0]] and info["moves"][0][4] > wrap.MARGIN
    assert info["after"] > info["before"]


@pytest.mark.parametrize("split, offset, turn", [(7, 4, 2), (13, 11, 9), (1, 6, 0)])
def test_two_parts_at_different_heights_are_relaid(chelsea, split, offset, turn):
    """Columns from ``split`` on placed first, the first ``split`` columns after them turned ``offset``
    rows down, the whole turned ``turn`` rows down: each part is right inside, joined at the wrong
    place and height. One move relays the picture exactly."""
    tab, truth = chelsea
    bad = np.concatenate([truth[:, split:], np.roll(truth[:, :split], offset, axis=0)], axis=1)
    bad = np.roll(bad, turn, axis=0)
    out, info = wrap.wrap_region(tab, _cells(bad))
    assert out == _cells(truth) and len(info["moves"]) == 1 and info["moves"][0][0] == "cols"


def test_rows_rolled_with_a_band_offset_are_relaid(chelsea):
    """The same with rows and columns exchanged: the bottom 5 rows placed above the top 7, the top 7
    turned 6 columns right, and every column turned 2 right."""
    tab, truth = chelsea
    bad = np.concatenate([truth[7:], np.roll(truth[:7], 6, axis=1)], axis=0)
    bad = np.roll(bad, 2, axis=1)
    out, info = wrap.wrap_region(tab, _cells(bad))
    assert out == _cells(truth) and info["moves"][0][0] == "rows"


def test_a_layout_with_a_hole_is_left_alone(chelsea):
    tab, truth = chelsea
    holed = _cells(np.roll(truth, 5, axis=1))
    del holed[(4, 4)]
    out, info = wrap.wrap_region(tab, holed)
    assert out == holed and info["moves"] == []


def test_regrow_groups_runs_the_correction_and_records_it(chelsea, monkeypatch):
    """Through ``regrow_groups``: a merging-placer cluster holding the picture with its columns rolled 5,
    the growth made to return the same layout and the polish switched off, so that only the correction
    can put it right: the image comes back as the picture, the record showing the move (j = 4)."""
    from unshuffle.fragments.solver import regrow
    from unshuffle.fragments.solver.placement import Assembler, Cluster

    tab, truth = chelsea
    m = truth.size
    rolled = np.roll(truth, 5, axis=1)
    pos = {int(rolled[y, x]): (y, x, 0) for y in range(ROWS) for x in range(COLS)}
    asm = Assembler(m, None, False)
    asm.clusters = {0: Cluster(pos, {(y, x): f for f, (y, x, _) in pos.items()}, (0, ROWS - 1, 0, COLS - 1))}
    asm.owner = [0] * m
    monkeypatch.setattr(regrow, "grow_region", lambda tab, avail, frames: (_cells(rolled), avail, {}))
    monkeypatch.setattr(regrow, "POLISH", False)
    out, kept = regrow.regrow_groups(tab, asm, False)
    _, row, col, _, shapes = out.layout()
    assert shapes == [(ROWS, COLS)] and (row == np.arange(m) // COLS).all() and (col == np.arange(m) % COLS).all()
    record = kept[0]["wrap"]
    assert [mv[:4] for mv in record["moves"]] == [["cols", 4, 0, 0]] and record["after"] > record["before"]


def test_roll_search_rolls_polishes_and_keeps_a_solved_layout(chelsea):
    """``roll_search``: the columns rolled 5 come back by the roll opening the worst column seam (5
    columns), then polished (nothing left to do); a solved layout is kept (no roll adds best-buddy seams)."""
    tab, truth = chelsea
    out, info = wrap.roll_search(tab, _cells(np.roll(truth, 5, axis=1)))
    assert out == _cells(truth) and info["moves"][0] == ["cols", 5] and info["after"] > info["before"]
    out, info = wrap.roll_search(tab, _cells(truth))
    assert out == _cells(truth) and info["moves"] == []


def _chelsea_bag() -> np.ndarray:
    import skimage.data

    img = skimage.data.chelsea()
    piece = 24
    frags = img[:ROWS * piece, :COLS * piece].reshape(ROWS, piece, COLS, piece, 3).transpose(0, 2, 1, 3, 4)
    frags = frags.reshape(-1, piece, piece, 3)
    return np.ascontiguousarray(frags[np.random.default_rng(0).permutation(len(frags))])


def test_the_solver_runs_the_roll_search_up_to_its_size_limit(monkeypatch):
    """``placer="auto"`` regrows the image, corrects its wrap and then runs ``roll_search`` (recorded in
    ``groups_kept[g]["wrap"]["search"]``) on layouts of at most ``regrow.WRAP_SEARCH_MAX`` pieces; a larger
    layout skips it, with the same layout on this solved puzzle either way."""
    from unshuffle.fragments.solver import regrow
    from unshuffle.fragments.solver.fragment_solver import FragmentSolver

    bag = _chelsea_bag()
    calls = []
    real = regrow.roll_search

    def spy(tab, region, seams=None):
        calls.append(len(region))
        return real(tab, region, seams)

    monkeypatch.setattr(regrow, "roll_search", spy)
    sol = FragmentSolver(n_images=1).solve(bag)
    assert calls == [ROWS * COLS]
    assert sol.settings["groups_kept"][0]["wrap"]["search"]["moves"] == []
    monkeypatch.setattr(regrow, "WRAP_SEARCH_MAX", ROWS * COLS - 1)
    again = FragmentSolver(n_images=1).solve(bag)
    assert calls == [ROWS * COLS] and "search" not in again.settings["groups_kept"][0]["wrap"]
    assert (again.row == sol.row).all() and (again.col == sol.col).all()
