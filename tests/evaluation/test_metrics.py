"""Grouping metrics against hand-worked cases and their documented edge values."""

import numpy as np
import pytest

from unshuffle.evaluation.metrics import (
    adjusted_nmi,
    ari,
    grouping_scores,
    hungarian_accuracy,
    nmi,
    purity,
    summarize,
)


def test_purity_hand_worked():
    # predicted cluster 0 = {0, 0} (majority 2), cluster 1 = {0, 1, 1, 1} (majority 3): 5 / 6
    assert purity([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]) == pytest.approx(5 / 6)


def test_hungarian_accuracy_hand_worked():
    # best one-to-one matching: t0->p1 (2), t1->p0 (2), t2->p2 (1) = 5 of 6
    assert hungarian_accuracy([0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 0, 2]) == pytest.approx(5 / 6)


def test_hungarian_counts_extra_clusters_as_wrong_while_purity_does_not():
    t, p = [0, 0, 1, 1], [0, 1, 2, 3]
    assert hungarian_accuracy(t, p) == pytest.approx(0.5)
    assert purity(t, p) == pytest.approx(1.0)


def test_ari_hand_worked():
    # contingency pairs: sum C(n_ij,2) = 1; rows 2+? -> sum C(a_i,2) = 2; cols sum C(b_j,2) = 1
    # expected = 2*1/6, max = 1.5 -> ARI = (1 - 1/3) / (1.5 - 1/3) = 4/7
    assert ari([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(4 / 7)


def test_relabelling_invariance():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 4, 50)
    p = rng.integers(0, 5, 50)
    perm = np.array([3, 0, 4, 1, 2])
    for f in (ari, nmi, purity, hungarian_accuracy, adjusted_nmi):
        assert f(t, p) == pytest.approx(f(t, perm[p]))


def test_edge_cases_documented_values():
    one = [0, 0, 0, 0]
    single = [0, 1, 2, 3]
    for t, p in ((one, [5, 5, 5, 5]), (single, [3, 2, 1, 0])):
        s = grouping_scores(t, p)
        assert s == {"ari": 1.0, "nmi": 1.0, "purity": 1.0}
        assert hungarian_accuracy(t, p) == 1.0
    # one predicted cluster for several true ones
    t = [0, 0, 0, 1, 1, 2]
    s = grouping_scores(t, [7] * 6)
    assert s["ari"] == 0.0 and s["nmi"] == 0.0 and s["purity"] == pytest.approx(0.5)
    # all singletons predicted for larger true groups
    s = grouping_scores([0, 0, 1, 1], [0, 1, 2, 3])
    assert s["purity"] == 1.0 and s["ari"] == 0.0


def test_random_labels_score_near_zero_ari():
    rng = np.random.default_rng(1)
    vals = [ari(rng.integers(0, 10, 160), rng.integers(0, 10, 160)) for _ in range(50)]
    assert abs(np.mean(vals)) < 0.01


def test_input_checks():
    with pytest.raises(ValueError, match="differ in length"):
        ari([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        purity([], [])
    with pytest.raises(ValueError, match="1-D"):
        nmi([[0, 1]], [[0, 1]])


def test_summarize_mean_std():
    out = summarize([{"ari": 0.2}, {"ari": 0.4}])
    assert out["ari"]["mean"] == pytest.approx(0.3)
    assert out["ari"]["std"] == pytest.approx(0.1)
