"""Paikin & Tal's placer (``grow.py``): best buddies and compatibility on hand-made tables, and exact
recovery of small real-photo puzzles of both types with the dimensions not given."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.errors import ConfigError
from unshuffle.evaluation.puzzles import puzzle_scores
from unshuffle.fragments.solver import grow
from unshuffle.fragments.solver.fragment_solver import FragmentSolver
from unshuffle.fragments.solver.regrow import regrow_groups


def _tables(right: np.ndarray, down: np.ndarray) -> grow.PieceTables:
    """Tables whose dissimilarities are the given (P, P) matrices: query = the matrix, key = identity."""
    eye = np.eye(right.shape[0])
    p = right.shape[0]
    return grow.piece_tables([(right, eye), (down, eye)], np.arange(p), np.zeros(p, np.int64), False)


def test_best_buddies_and_compatibility_by_hand():
    """Three pieces in a row, 0 | 1 | 2: D(0, 1) = 1 and D(1, 2) = 2 are the clear best right matches."""
    big = 9.0
    right = np.array([[0, 1, 4], [5, 0, 2], [6, 8, 0]], float)
    down = np.full((3, 3), big)
    tab = _tables(right, down)
    left_of, right_of = 0, 1  # SIDES order: candidate left of / right of the placed piece
    # piece 0's right partners cost 1 (piece 1) and 4 (piece 2): best 1, second 4
    assert tab.best[right_of, 0] == 1 and tab.second[right_of, 0] == 4.0
    np.testing.assert_allclose(tab.compatibility(right_of, 0), [-np.inf, 1 - 1 / 4, 1 - 4 / 4])
    # piece 1's left partners cost 1 (piece 0) and 8 (piece 2): 0 and 1 are mutual best: buddies
    assert tab.best[left_of, 1] == 0 and tab.second[left_of, 1] == 8.0
    bud = tab.buddies()
    assert bud[right_of, 0] and bud[left_of, 1]
    assert bud[right_of, 1] and bud[left_of, 2]  # 1's right: 2 (cost 2) before 0 (5); 2's left: 1 (2) before 0 (4)
    assert not bud[right_of, 2]  # piece 2's best right partner is 0 (cost 6 < 8), but 0's best left is 1
    assert not bud[2:].any()  # vertical: every pair costs 9, a tie is no best buddy


def test_a_tie_of_flat_edges_is_no_best_buddy():
    right = np.array([[0, 0, 0], [0, 0, 3], [0, 3, 0]], float)  # piece 0 fits everything at cost 0
    tab = _tables(right, np.full((3, 3), 1.0))
    assert not tab.buddies()[1, 0]  # best 0 = second best 0


def test_grow_places_the_most_confident_piece_first():
    """2 x 2 puzzle with a hand-made table: from seed 0 the growth rebuilds [[0, 1], [2, 3]]."""
    inf = 50.0
    right = np.full((4, 4), inf)
    down = np.full((4, 4), inf)
    right[0, 1], right[2, 3] = 1.0, 1.0
    down[0, 2], down[1, 3] = 1.0, 1.0
    right[1, 0], down[2, 0] = 30.0, 30.0  # decoys, each a worse second best
    tab = _tables(right, down)
    avail = np.ones(4, bool)
    avail[0] = False
    cells = grow.grow(tab, {(0, 0): 0}, avail, frame=(2, 2))
    assert cells == {(0, 0): 0, (0, 1): 1, (1, 0): 2, (1, 1): 3}
    assert not avail.any()
    assert grow.buddy_seams(tab, cells)[0] == 4  # every seam of the solution is a best buddy


def test_count_frames_and_window():
    assert grow.count_frames(12) == [(3, 4), (4, 3), (2, 6), (6, 2)]
    assert grow.count_frames(7) == [(3, 3)]  # 1 x 7 is too elongated: the squarest frame holding 7
    cells = {(0, c): c for c in range(5)}  # a 1 x 5 strip
    assert grow.place_window(cells, (2, 3)) == (0, 1, 0, 2)


def test_aspect_distance_by_hand():
    assert grow.aspect_distance((18, 24)) == pytest.approx(0.0, abs=1e-12)  # 4:3
    assert grow.aspect_distance((24, 16)) == pytest.approx(0.0, abs=1e-12)  # 3:2, portrait
    assert grow.aspect_distance((5, 5)) == pytest.approx(0.0, abs=1e-12)  # square
    assert grow.aspect_distance((12, 32)) == pytest.approx(np.log(32 / 12) - np.log(1.5))  # 8:3, nearest 3:2
    assert grow.aspect_distance(None) == 0.0


def test_near_tied_frames_go_to_the_usual_photo_aspect(monkeypatch):
    # (key = (best-buddy seams, compatibility, -index), frame, region, left), as grow_region builds them
    grown = [((286, -0.70, 0), (16, 24), "a", None), ((266, -0.78, -1), (24, 16), "b", None),
             ((297, -0.66, -2), (12, 32), "c", None), ((201, -0.96, -3), (32, 12), "d", None)]
    # 286 >= 0.95 * 297: a near-tie, and 16 x 24 (3:2) is a usual aspect where 12 x 32 (8:3) is not
    assert grow.choose_frame(grown)[1] == (16, 24)
    # the two 3:2 frames are equally usual: the one with more seams wins
    assert grow.choose_frame([grown[1], grown[0], grown[2]])[1] == (16, 24)
    # a clear winner (more than 5 % more seams) keeps its frame whatever its aspect
    clear = [((270, -0.70, 0), (16, 24), "a", None), ((297, -0.66, -2), (12, 32), "c", None)]
    assert grow.choose_frame(clear)[1] == (12, 32)
    monkeypatch.setattr(grow, "FRAME_PRIOR", False)
    assert grow.choose_frame(grown)[1] == (12, 32)  # without the prior: the most seams
    assert grow.choose_frame([((5, 0.0, 0), None, "x", None)])[1] is None


def _puzzle(name: str, piece: int, turned: bool, seed: int):
    """Shuffled (and for Type 2 turned) pieces of a scikit-image photo and their truth (row, col, turn)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    rows, cols = img.shape[0] // piece, img.shape[1] // piece
    p = img[:rows * piece, :cols * piece].reshape(rows, piece, cols, piece, 3).transpose(0, 2, 1, 3, 4)
    p = p.reshape(-1, piece, piece, 3)
    rng = np.random.default_rng(seed)
    turn = rng.integers(0, 4, len(p)) if turned else np.zeros(len(p), np.int64)
    p = np.stack([np.rot90(f, -int(k)) for f, k in zip(p, turn, strict=True)])
    order = rng.permutation(len(p))
    r, c = np.divmod(order, cols)
    return np.ascontiguousarray(p[order]), r, c, turn[order]


@pytest.mark.parametrize(("name", "piece", "pieces", "turned"), [
    ("chelsea", 24, 216, False), ("chelsea", 24, 216, True), ("coffee", 28, 294, False), ("chelsea", 20, 330, True)])
def test_grow_recovers_small_photo_puzzles_exactly(name, piece, pieces, turned):
    """Type 1 and Type 2 (every piece turned), the frame found from the piece count alone. (Coffee at 28 px
    Type 2 and immunohistochemistry at 28 px Type 2 come back with 2 and 1 pieces misplaced.)"""
    frags, r, c, k = _puzzle(name, piece, turned, seed=5)
    assert len(frags) == pieces
    sol = FragmentSolver(n_images=1, rotations=turned, placer="grow").solve(frags)
    assert sol.settings["placer"] == "grow"
    score = puzzle_scores(np.zeros(pieces, np.int64), r, c, k, sol.group, sol.row, sol.col, sol.turn,
                          sol.shapes, turned)[0]
    assert score["direct"] == 1.0 and score["perfect"]
    truth = (int(r.max()) + 1, int(c.max()) + 1)
    assert sol.shapes == [truth] if not turned else sorted(sol.shapes[0]) == sorted(truth)


def test_best_keeps_one_placer_and_records_both_seam_counts():
    frags, r, c, k = _puzzle("chelsea", 24, False, seed=5)
    sol = FragmentSolver(n_images=1, rotations=False, placer="best").solve(frags)
    assert sol.settings["placer_used"] in ("greedy", "grow")
    seams = sol.settings["seams"]  # (best-buddy seams, all seams, mean compatibility) of each assembly
    assert set(seams) == {"greedy", "grow"} and all(v[0] <= v[1] for v in seams.values())
    total = {name: v[0] + v[1] for name, v in seams.items()}  # best-buddy seams count twice
    assert total[sol.settings["placer_used"]] == max(total.values())  # (ties: by unrounded compatibility)
    score = puzzle_scores(np.zeros(len(frags), np.int64), r, c, k, sol.group, sol.row, sol.col, sol.turn,
                          sol.shapes, False)[0]
    assert score["perfect"]


def test_grow_refuses_more_pieces_than_its_dense_tables_allow(monkeypatch):
    import unshuffle.fragments.solver.fragment_solver as fs

    frags = _puzzle("chelsea", 28, False, seed=0)[0]  # 160 pieces
    monkeypatch.setattr(fs, "GROW_MAX_PIECES", 100)
    with pytest.raises(ConfigError, match="placer='grow' keeps dense tables: at most 100 pieces"):
        FragmentSolver(n_images=1, rotations=False, placer="grow").solve(frags)
    sol = FragmentSolver(n_images=1, rotations=False, placer="best").solve(frags)
    assert sol.settings["placer_used"] == "greedy" and "seams" not in sol.settings


def test_regrow_replaces_a_scrambled_image_and_keeps_a_solved_one():
    """Two single-image assemblies of the 216-piece chelsea puzzle: laid out right, the merging
    placer's cluster is kept (the growth ties it); laid out at random in the right frame, the regrown
    region is kept and is the picture."""
    from unshuffle.fragments.solver.compatibility import relation_features
    from unshuffle.fragments.solver.placement import Assembler, Cluster

    frags, r, c, _ = _puzzle("chelsea", 24, False, seed=5)
    m = len(frags)
    tab = grow.piece_tables(relation_features(frags, "prediction", 1.0), np.arange(m), np.zeros(m, np.int64), False)
    for cells, expect in (((r, c), "greedy"), (np.divmod(np.random.default_rng(0).permutation(m), 18), "grow")):
        asm = Assembler(m, None, False)
        pos = {f: (int(cells[0][f]), int(cells[1][f]), 0) for f in range(m)}
        asm.clusters = {0: Cluster(pos, {(y, x): f for f, (y, x, _) in pos.items()}, (0, 11, 0, 17))}
        asm.owner = [0] * m
        out, kept = regrow_groups(tab, asm, False)
        assert [k["kept"] for k in kept] == [expect]
        group, row, col, _, shapes = out.layout()
        assert shapes == [(12, 18)] and (row == r).all() and (col == c).all()


def test_auto_placer_grows_puzzles_and_merges_small_images():
    """The default placer: a 216-piece photo puzzle is solved by "best" (the growing placer tried),
    a 4x4 grid of a small photo by the merging placer alone."""
    frags, r, c, k = _puzzle("chelsea", 24, False, seed=5)
    sol = FragmentSolver(n_images=1, rotations=False).solve(frags)
    assert sol.settings["placer"] == "auto" and sol.settings["placer_chosen"] == "best"
    assert "seams" in sol.settings  # both layouts were scored
    small = _puzzle("chelsea", 75, False, seed=5)[0]  # 4 x 6 pieces
    sol = FragmentSolver(n_images=1, rotations=False).solve(small)
    assert sol.settings["placer_chosen"] == "greedy" and "seams" not in sol.settings
