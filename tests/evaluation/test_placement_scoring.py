"""Scoring of fragment solutions on hand-built bags and solutions with hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unshuffle.errors import ConfigError
from unshuffle.evaluation.metrics import grouping_scores
from unshuffle.evaluation.placement import aggregate_scores, rotate_cells, score_solution
from unshuffle.fragments.bags.damage import turn_fragments
from unshuffle.fragments.bags.sampling import FragmentBag
from unshuffle.fragments.bags.solution import Solution


def make_bag(n_images: int = 2, g: int = 2, s: int = 3, seed: int = 0, turns: bool = False) -> FragmentBag:
    """Bag in source-major order (i = src*g*g + r*g + c) with distinct random fragments."""
    rng = np.random.default_rng(seed)
    m = n_images * g * g
    up = rng.integers(0, 256, size=(m, s, s, 3), dtype=np.uint8)
    src, row, col = (a.reshape(-1) for a in np.meshgrid(np.arange(n_images), np.arange(g), np.arange(g), indexing="ij"))
    turn = rng.integers(0, 4, size=m) if turns else np.zeros(m, np.int64)
    given = turn_fragments(up, -turn)
    return FragmentBag(given, src, row, col, turn.astype(np.int64), np.arange(n_images), (g, g))


def sol(group, row, col, turn, conf=None, shapes=None) -> Solution:
    group = np.asarray(group, np.int64)
    row, col = np.asarray(row, np.int64), np.asarray(col, np.int64)
    if shapes is None:
        shapes = [(int(row[group == k].max()) + 1, int(col[group == k].max()) + 1) for k in range(group.max() + 1)]
    conf = np.full(len(group), 0.5) if conf is None else np.asarray(conf, np.float64)
    return Solution(group, row, col, np.asarray(turn, np.int64), conf, shapes)


def truth_solution(bag: FragmentBag) -> Solution:
    return sol(bag.source, bag.row, bag.col, bag.turn, shapes=[bag.grid] * bag.n_images)


def test_rotate_cells_matches_rot90():
    grid = np.arange(12).reshape(3, 4)
    r, c = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    for q in range(4):
        rr, cc = rotate_cells(r.ravel(), c.ravel(), q)
        turned = np.rot90(grid, k=q)
        rr, cc = rr - rr.min(), cc - cc.min()
        assert np.array_equal(turned[rr, cc], grid.ravel())


def test_perfect_solution():
    bag = make_bag()
    s = score_solution(bag, truth_solution(bag))
    for k in ("ari", "nmi", "purity", "placement_accuracy", "perfect_rate", "neighbour_accuracy",
              "upright_accuracy", "exact_n"):
        assert s[k] == 1.0, k
    assert math.isnan(s["confidence_auroc"])  # one class only
    assert (s["n_groups"], s["n_images"], s["n_fragments"]) == (2, 2, 8)


def test_shifted_and_relabelled_is_still_perfect():
    bag = make_bag()
    # group ids swapped, image 0 shifted by (1, 2) on a 3x4 canvas, image 1 by (0, 1)
    group = 1 - bag.source
    row = bag.row + np.where(bag.source == 0, 1, 0)
    col = bag.col + np.where(bag.source == 0, 2, 1)
    s = score_solution(bag, sol(group, row, col, bag.turn, shapes=[(2, 3), (3, 4)]))
    assert s["placement_accuracy"] == s["perfect_rate"] == s["neighbour_accuracy"] == 1.0


def test_turned_group():
    bag = make_bag()
    # image 0 rebuilt turned by one quarter turn CCW: cell (r, c) -> (1 - c, r), each fragment shown turned once
    zero = bag.source == 0
    row = np.where(zero, 1 - bag.col, bag.row)
    col = np.where(zero, bag.row, bag.col)
    turn = np.where(zero, 1, 0)
    solution = sol(bag.source, row, col, turn)
    s = score_solution(bag, solution, rotations=True)
    assert s["placement_accuracy"] == s["perfect_rate"] == s["neighbour_accuracy"] == 1.0
    assert s["upright_accuracy"] == 0.5  # absolute orientation: image 0's four fragments are not upright
    k = score_solution(bag, solution, rotations=False)  # a turned group is wrong when orientation is known
    assert k["placement_accuracy"] == 0.5 and k["perfect_rate"] == 0.5 and k["neighbour_accuracy"] == 0.5


def test_unknown_rotation_truth_turns():
    bag = make_bag(turns=True, seed=3)
    assert len(set(bag.turn.tolist())) > 1
    s = score_solution(bag, truth_solution(bag), rotations=True)
    assert s["placement_accuracy"] == s["upright_accuracy"] == s["neighbour_accuracy"] == 1.0
    wrong = truth_solution(bag)
    wrong.turn = (wrong.turn + np.array([1, 0, 0, 0, 0, 0, 0, 0])) % 4  # one fragment shown turned
    w = score_solution(bag, wrong, rotations=True)
    assert w["placement_accuracy"] == 7 / 8 and w["upright_accuracy"] == 7 / 8
    assert w["neighbour_accuracy"] == 6 / 8  # fragment 0 (cell 0,0) loses its right and below pairs
    assert w["perfect_rate"] == 0.5


def test_swapped_pair_and_confidence_auroc():
    bag = make_bag()
    row, col = bag.row.copy(), bag.col.copy()
    col[0], col[1] = 1, 0  # image 0: fragments (0,0) and (0,1) swap places
    conf = np.array([0.1, 0.2, 0.9, 0.8, 0.7, 0.95, 0.6, 0.5])
    s = score_solution(bag, sol(bag.source, row, col, bag.turn, conf))
    assert s["placement_accuracy"] == 6 / 8
    assert s["perfect_rate"] == 0.5
    # image 0 pairs: A-B right reversed, A-C and B-D below broken, C-D right kept; image 1: all 4
    assert s["neighbour_accuracy"] == 5 / 8
    assert s["confidence_auroc"] == 1.0  # both wrong ones have the lowest confidences
    flipped = score_solution(bag, sol(bag.source, row, col, bag.turn, 1 - conf))
    assert flipped["confidence_auroc"] == 0.0
    assert s["ari"] == 1.0


def test_split_image():
    bag = make_bag()
    group = bag.source.copy()
    group[(bag.source == 0) & (bag.row == 1)] = 2  # bottom row of image 0 becomes its own group
    row = np.where(group == 2, 0, bag.row)
    s = score_solution(bag, sol(group, row, bag.col, bag.turn))
    assert s["placement_accuracy"] == 1.0  # each part is right up to its own shift
    assert s["perfect_rate"] == 0.5
    assert s["neighbour_accuracy"] == 6 / 8  # the two vertical pairs of image 0 are cut
    assert s["exact_n"] == 0.0 and s["n_groups"] == 3
    assert s["ari"] == grouping_scores(bag.source, group)["ari"] < 1.0


def test_merged_images():
    bag = make_bag()
    # both images in one 2x4 canvas, side by side, each correct relative to itself
    col = bag.col + 2 * bag.source
    s = score_solution(bag, sol(np.zeros(8), bag.row, col, bag.turn))
    assert s["ari"] == 0.0 and s["purity"] == 0.5 and s["exact_n"] == 0.0
    assert s["placement_accuracy"] == 0.5  # one transform per group: anchored on image 0 (tie -> smaller)
    assert s["perfect_rate"] == 0.5
    assert s["neighbour_accuracy"] == 1.0  # every true pair is adjacent on the right side


def test_pixel_identical_duplicates_count_as_correct():
    bag = make_bag()
    frags = bag.fragments.copy()
    frags[1] = frags[0]  # image 0: cells (0,0) and (0,1) hold identical pixels
    bag = FragmentBag(frags, bag.source, bag.row, bag.col, bag.turn, bag.image_ids, bag.grid)
    row, col = bag.row.copy(), bag.col.copy()
    col[0], col[1] = 1, 0  # swap the two identical fragments
    s = score_solution(bag, sol(bag.source, row, col, bag.turn))
    assert s["placement_accuracy"] == 1.0 and s["perfect_rate"] == 1.0
    assert s["neighbour_accuracy"] == 5 / 8  # neighbours use identity, not pixels
    frags2 = bag.fragments.copy()
    frags2[2] = np.rot90(frags2[2], k=1)  # not identical any more: the rule is exact
    bag2 = FragmentBag(frags2, bag.source, bag.row, bag.col, bag.turn, bag.image_ids, bag.grid)
    row, col = bag2.row.copy(), bag2.col.copy()
    col[2], col[3] = 1, 0
    assert score_solution(bag2, sol(bag2.source, row, col, bag2.turn))["placement_accuracy"] == 6 / 8


def test_symmetric_fragment_with_wrong_turn_is_correct():
    bag = make_bag()
    frags = bag.fragments.copy()
    frags[5] = 77  # a uniform fragment looks the same at every turn
    bag = FragmentBag(frags, bag.source, bag.row, bag.col, bag.turn, bag.image_ids, bag.grid)
    t = truth_solution(bag)
    t.turn[5] = 3
    s = score_solution(bag, t, rotations=True)
    assert s["placement_accuracy"] == 1.0 and s["upright_accuracy"] == 1.0


def test_missing_fragments():
    bag = make_bag(n_images=3).select(np.array([0, 1, 2, 4, 5, 6, 7, 8, 9, 10]))  # drops 3, 11
    t = truth_solution(bag)
    t.shapes = [(2, 2)] * 3
    s = score_solution(bag, t)
    assert s["placement_accuracy"] == s["perfect_rate"] == s["neighbour_accuracy"] == 1.0
    # image 0's cell (0,0) moved to a group of its own; 8 true pairs remain (cells (1,1) of images 0, 2 gone)
    g = t.group.copy()
    g[0] = 3
    t2 = Solution(g, np.where(np.arange(10) == 0, 0, t.row), t.col, t.turn, t.confidence, [(2, 2)] * 3 + [(1, 1)])
    s2 = score_solution(bag, t2)
    assert s2["placement_accuracy"] == 1.0 and s2["perfect_rate"] == 2 / 3
    assert s2["neighbour_accuracy"] == 6 / 8  # 8 pairs present; (0,0) loses right and below


def test_grouping_only_has_nan_placement():
    bag = make_bag()
    s = score_solution(bag, Solution.grouping_only(bag.source))
    assert s["ari"] == 1.0 and s["exact_n"] == 1.0
    for k in ("placement_accuracy", "perfect_rate", "neighbour_accuracy", "upright_accuracy", "confidence_auroc"):
        assert math.isnan(s[k])


def test_random_transforms_keep_perfect_scores():
    for seed in range(5):
        rng = np.random.default_rng(seed)
        bag = make_bag(n_images=4, g=3, turns=True, seed=seed)
        perm = rng.permutation(4)
        q = rng.integers(0, 4, size=4)[bag.source]
        rr, cc = rotate_cells(bag.row, bag.col, q)
        shift = rng.integers(0, 3, size=(4, 2))
        rr = rr - np.array([rr[bag.source == k].min() for k in range(4)])[bag.source] + shift[bag.source, 0]
        cc = cc - np.array([cc[bag.source == k].min() for k in range(4)])[bag.source] + shift[bag.source, 1]
        s = score_solution(bag, sol(perm[bag.source], rr, cc, (bag.turn + q) % 4), rotations=True)
        assert s["placement_accuracy"] == s["perfect_rate"] == s["neighbour_accuracy"] == 1.0


def test_errors_and_aggregation():
    bag = make_bag()
    with pytest.raises(ConfigError, match="does not fit the bag of 8 fragments"):
        score_solution(bag, Solution.grouping_only(np.zeros(7)))
    agg = aggregate_scores([{"ari": 1.0, "x": float("nan")}, {"ari": 0.5, "x": float("nan")}, {"ari": 0.0, "x": 2.0}])
    assert agg["ari"] == {"mean": 0.5, "std": pytest.approx(math.sqrt(1 / 6)), "median": 0.5, "n": 3}
    assert agg["x"]["mean"] == 2.0 and agg["x"]["n"] == 1
    with pytest.raises(ConfigError, match="no samples"):
        aggregate_scores([])
