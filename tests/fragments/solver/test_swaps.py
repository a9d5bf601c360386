"""Pieces exchanged inside a layout (``swaps.py``): exchanged pieces go back (far apart or neighbours, by assignment
rounds or single exchanges), a right layout is left alone, sharp best-buddy seams never fall, and each cluster of an
assembler is mended in place."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.fragments.solver import swaps
from unshuffle.fragments.solver.grow import SIDES, region_seams

ROWS, COLS = 8, 12


def seam_sum(tab, region: dict[tuple[int, int], int]) -> float:
    """Summed seam fit of a layout, pair by pair: each piece with its right and lower neighbour."""
    total = 0.0
    for (r, c), a in region.items():
        for s in (1, 3):
            x = region.get((r + SIDES[s][0], c + SIDES[s][1]))
            if x is not None:
                total += float(tab.seam_fit(np.array([a]), np.array([x]), np.array([s]))[0])
    return total


def _chelsea() -> dict[tuple[int, int], int]:
    return {(r, c): COLS * r + c for r in range(ROWS) for c in range(COLS)}


def _scrambled(seed: int, pairs: int) -> dict[tuple[int, int], int]:
    """Chelsea's layout with ``pairs`` random pairs of cells exchanged."""
    rng = np.random.default_rng(seed)
    broken = _chelsea()
    cells = list(broken)
    for _ in range(pairs):
        i, j = rng.choice(len(cells), 2, replace=False)
        broken[cells[i]], broken[cells[j]] = broken[cells[j]], broken[cells[i]]
    return broken


def test_right_layout_is_left_alone(chelsea_coffee):
    out, info = swaps.swap_refine(chelsea_coffee, _chelsea())
    assert out == _chelsea()
    assert info["swaps"] == 0 and info["lap"] == 0


def test_two_exchanged_pieces_go_back(chelsea_coffee):
    """Two pieces far apart (row 1 col 2 and row 6 col 9) exchanged: the pass puts both back, and the fit it
    reports gained equals the summed seam fit of the right layout minus that of the broken one."""
    broken = _chelsea()
    a, b = (1, 2), (6, 9)
    broken[a], broken[b] = broken[b], broken[a]
    out, info = swaps.swap_refine(chelsea_coffee, broken)
    assert out == _chelsea()
    assert info["swaps"] + info["lap"] >= 1
    want = seam_sum(chelsea_coffee, _chelsea()) - seam_sum(chelsea_coffee, broken)
    assert info["gain"] == pytest.approx(want, abs=1e-2)


def test_swaps_never_lose_best_buddy_seams(chelsea_coffee):
    """A chelsea layout with eight random pairs exchanged: whatever the pass does, the layout keeps its cells
    and pieces, and its best-buddy seams and summed seam fit do not fall."""
    broken = _scrambled(seed=0, pairs=8)
    out, _ = swaps.swap_refine(chelsea_coffee, broken)
    assert sorted(out) == sorted(broken) and sorted(out.values()) == sorted(broken.values())
    assert region_seams(chelsea_coffee, out)[0] >= region_seams(chelsea_coffee, broken)[0]
    assert seam_sum(chelsea_coffee, out) >= seam_sum(chelsea_coffee, broken)


def test_exchanges_alone_put_two_pieces_back(chelsea_coffee, monkeypatch):
    """With the assignment rounds off, the single-exchange loop does the work: one exchange, the right layout."""
    monkeypatch.setattr(swaps, "LAP_ROUNDS", 0)
    broken = _chelsea()
    a, b = (0, 5), (7, 11)
    broken[a], broken[b] = broken[b], broken[a]
    out, info = swaps.swap_refine(chelsea_coffee, broken)
    assert out == _chelsea()
    assert info == {"lap": 0, "swaps": 1, "gain": pytest.approx(seam_sum(chelsea_coffee, _chelsea())
                                                                - seam_sum(chelsea_coffee, broken), abs=1e-2)}


def test_exchanges_never_lose_sharp_buddies(chelsea_coffee, monkeypatch):
    """Exchanges alone on a chelsea layout with twelve random pairs exchanged: the count of sharp best-buddy
    seams (``PieceTables.buddies``) never falls, and the summed seam fit rises by what the pass reports."""
    monkeypatch.setattr(swaps, "LAP_ROUNDS", 0)
    tab = chelsea_coffee
    sharp = tab.buddies()

    def sharp_seams(region):
        return sum(int(tab.best[s, x] == region.get((r + SIDES[s][0], c + SIDES[s][1])) and sharp[s, x])
                   for (r, c), x in region.items() for s in (1, 3))

    broken = _scrambled(seed=3, pairs=12)
    out, info = swaps.swap_refine(tab, broken)
    assert info["swaps"] >= 1
    assert sharp_seams(out) >= sharp_seams(broken)
    assert info["gain"] == pytest.approx(seam_sum(tab, out) - seam_sum(tab, broken), abs=1e-2)


def test_two_neighbours_exchanged_go_back(chelsea_coffee, monkeypatch):
    """Two neighbouring pieces exchanged (row 3, cols 4 and 5; then rows 5 and 6, col 8), assignment rounds
    off: one exchange of the two neighbours puts each layout right, with the gain summed pair by pair."""
    monkeypatch.setattr(swaps, "LAP_ROUNDS", 0)
    for a, b in (((3, 4), (3, 5)), ((5, 8), (6, 8))):
        broken = _chelsea()
        broken[a], broken[b] = broken[b], broken[a]
        out, info = swaps.swap_refine(chelsea_coffee, broken)
        assert out == _chelsea()
        assert info["swaps"] == 1
        assert info["gain"] == pytest.approx(seam_sum(chelsea_coffee, _chelsea()) - seam_sum(chelsea_coffee, broken),
                                             abs=1e-2)


def test_swap_groups_mends_each_cluster_in_place(chelsea_coffee):
    """Two clusters, chelsea with two far pieces exchanged and coffee right: chelsea comes back right under
    its id with trust 1, coffee is untouched (same cells, its trust as it was)."""
    from unshuffle.fragments.solver.grow import add_region
    from unshuffle.fragments.solver.placement import Assembler

    tab = chelsea_coffee
    broken = _chelsea()
    broken[(2, 1)], broken[(5, 10)] = broken[(5, 10)], broken[(2, 1)]
    coffee = {(r, c): ROWS * COLS + f for (r, c), f in _chelsea().items()}
    asm = Assembler(len(tab.owner), None, False)
    asm.clusters = {}
    add_region(asm, tab, broken)
    add_region(asm, tab, coffee)
    asm.trust[:] = 0.25
    infos = swaps.swap_groups(tab, asm)
    assert [i["lap"] + i["swaps"] > 0 for i in infos] == [True, False]
    assert {(r, c): f for f, (r, c, _) in asm.clusters[0].pos.items()} == _chelsea()
    assert {(r, c): f for f, (r, c, _) in asm.clusters[ROWS * COLS].pos.items()} == coffee
    assert np.all(asm.trust[:ROWS * COLS] == 1.0) and np.all(asm.trust[ROWS * COLS:] == 0.25)
