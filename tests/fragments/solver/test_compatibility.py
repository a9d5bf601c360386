"""Edge compatibility measures, candidate search and 2x2 loops on hand-built fragments."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.fragments.solver import compatibility as compat
from unshuffle.fragments.solver.candidates import top_candidates
from unshuffle.fragments.solver.loops import neighbour_table, square_loops


def _smooth_image(size: int, seed: int) -> np.ndarray:
    """(size, size, 3) uint8 smooth colour image: sums of low-frequency sinusoids."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for ch in range(3):
        for _ in range(3):
            fx, fy, ph = rng.uniform(0.3, 2.0), rng.uniform(0.3, 2.0), rng.uniform(0, 6.3)
            img[..., ch] += np.sin(2 * np.pi * (fx * x + fy * y) + ph)
    img = (img - img.min()) / (img.max() - img.min()) * 200 + 20
    return img.astype(np.uint8)


def _prediction_reference(a: np.ndarray, b: np.ndarray, eps: float = 1.0) -> float:
    """Slow per-pixel prediction dissimilarity of ``b`` right of ``a`` (LAB floats), from the formula."""
    total = 0.0
    for left, right, edge_col, inner_col, other_col in ((a, b, -1, -2, 0), (b, a, 0, 1, -1)):
        grad = left[:, edge_col] - left[:, inner_col]
        cov = np.cov(grad.T) + eps * np.eye(3)
        inv = np.linalg.inv(cov)
        for p in range(grad.shape[0]):
            miss = right[p, other_col] - (left[p, edge_col] + grad[p])
            total += float(miss @ inv @ miss)
    return total


def test_rgb_to_lab_matches_skimage():
    skcolor = pytest.importorskip("skimage.color")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    np.testing.assert_allclose(compat.rgb_to_lab(rgb), skcolor.rgb2lab(rgb), atol=2e-3)
    assert compat.rgb_to_lab(np.array([[255, 255, 255]], np.uint8))[0, 0] == pytest.approx(100.0, abs=1e-3)


@pytest.mark.parametrize("measure", ["mgc", "prediction", "combined"])
def test_factorised_measures_equal_direct_formulas(measure):
    rng = np.random.default_rng(1)
    frags = rng.integers(0, 256, size=(4, 6, 6, 3), dtype=np.uint8)
    lab = compat.rgb_to_lab(frags).astype(np.float64)
    q, k = compat.edge_features(lab, measure, eps=1.0)
    for i in range(4):
        for j in range(4):
            expect = 0.0
            if measure in ("mgc", "combined"):
                expect += compat.mgc_reference(lab[i], lab[j], eps=1.0)
            if measure in ("prediction", "combined"):
                expect += _prediction_reference(lab[i], lab[j], eps=1.0)
            assert q[i] @ k[j] == pytest.approx(expect, rel=1e-7, abs=1e-6)


@pytest.mark.parametrize("measure", ["mgc", "prediction", "combined"])
def test_gradient_image_halves_are_each_others_best_match(measure):
    # a smooth image cut into a 2x2 grid, plus distractors cut from other smooth images
    pieces, names = [], []
    for seed in range(4):
        img = _smooth_image(32, seed)
        for r in range(2):
            for c in range(2):
                pieces.append(img[16 * r:16 * r + 16, 16 * c:16 * c + 16])
                names.append((seed, r, c))
    frags = np.stack(pieces)
    (qr, kr), (qd, kd) = compat.relation_features(frags, measure)
    right, down = compat.dissimilarity(qr, kr), compat.dissimilarity(qd, kd)
    for i, (seed, r, c) in enumerate(names):
        if c == 0:
            assert names[int(np.argmin(right[i]))] == (seed, r, 1)
        if r == 0:
            assert names[int(np.argmin(down[i]))] == (seed, 1, c)
    buddies = {tuple(p) for p in compat.best_buddies(right).tolist()}
    for seed in range(4):
        for r in range(2):
            assert (names.index((seed, r, 0)), names.index((seed, r, 1))) in buddies


def test_dissimilarity_diagonal_is_excluded():
    q = np.eye(3)
    d = compat.dissimilarity(q, q)
    assert np.isinf(np.diag(d)).all()


def test_normalized_and_best_buddies_on_hand_built_matrix():
    inf = np.inf
    d = np.array([[inf, 1.0, 4.0],
                  [2.0, inf, 8.0],
                  [3.0, 6.0, inf]])
    # second smallest: rows (4, 8, 6), columns (3, 6, 8)
    n = compat.normalized(d)
    assert n[0, 1] == pytest.approx(1.0 / min(4.0, 6.0))
    assert n[1, 0] == pytest.approx(2.0 / min(8.0, 3.0))
    assert n[2, 0] == pytest.approx(3.0 / min(6.0, 3.0))
    # best of row 0 is 1, best of column 1 is row 0 -> buddies; row 1's best is 0, column 0's best is 1
    assert {tuple(p) for p in compat.best_buddies(d).tolist()} == {(0, 1), (1, 0)}
    assert compat.best_buddies(np.array([[inf]])).shape == (0, 2)


@pytest.mark.parametrize("chunk", [3, 1000])
def test_top_candidates_match_dense_search(chunk):
    rng = np.random.default_rng(2)
    frags = rng.integers(0, 256, size=(11, 5, 5, 3), dtype=np.uint8)
    q, k = compat.edge_features(compat.rgb_to_lab(frags))
    owner = np.arange(11) // 2  # pairs of pieces share a fragment: never candidates of each other
    c = top_candidates(q, k, owner, k=2, chunk=chunk)
    d = np.maximum(q @ k.T, 0.0)
    d[owner[:, None] == owner[None, :]] = np.inf
    rows = np.sort(d, axis=1)
    cols = np.sort(d, axis=0)
    np.testing.assert_allclose(c.row_second, rows[:, 1], rtol=1e-9)
    np.testing.assert_allclose(c.col_second, cols[1], rtol=1e-9)
    got = set(zip(c.i.tolist(), c.j.tolist(), strict=True))
    for i in range(11):
        for j in np.argsort(d[i], kind="stable")[:3]:
            assert (i, int(j)) in got
    assert all(owner[i] != owner[j] for i, j in got)
    np.testing.assert_allclose(c.d, d[c.i, c.j], rtol=1e-9)
    ref = np.minimum(rows[c.i, 1], cols[1, c.j])
    np.testing.assert_allclose(c.score, c.d / ref, rtol=1e-9)


def test_square_loops_found_on_a_cut_image():
    img = _smooth_image(48, 7)
    frags = np.stack([img[16 * r:16 * r + 16, 16 * c:16 * c + 16] for r in range(3) for c in range(3)])
    owner = np.arange(9)
    (qr, kr), (qd, kd) = compat.relation_features(frags)
    right = neighbour_table(top_candidates(qr, kr, owner, k=2), 9, 2, np.inf)
    down = neighbour_table(top_candidates(qd, kd, owner, k=2), 9, 2, np.inf)
    loops, score = square_loops(right, down, owner)
    found = {tuple(x) for x in loops.tolist()}
    for r in range(2):
        for c in range(2):
            a = 3 * r + c
            assert (a, a + 1, a + 3, a + 4) in found
    assert np.all(np.diff(score) >= 0)
