"""Shift counts: the FFT correlation against its defining sum, and collisions / contacts of small clusters by hand."""

import numpy as np

from unshuffle.fragments.solver.shifts import correlate, free_shifts, shift_counts


def _naive_full_correlation(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """out[i, j] = sum_ab k[a, b] x[i - (K - 1) + a, j - (L - 1) + b], x taken as 0 outside."""
    (m, n), (kk, ll) = x.shape, k.shape
    out = np.zeros((m + kk - 1, n + ll - 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for a in range(kk):
                for b in range(ll):
                    r, c = i - (kk - 1) + a, j - (ll - 1) + b
                    if 0 <= r < m and 0 <= c < n:
                        out[i, j] += k[a, b] * x[r, c]
    return out


def test_correlate_matches_its_definition():
    rng = np.random.default_rng(0)
    for shape_x, shape_k in [((1, 1), (1, 1)), ((3, 5), (2, 2)), ((6, 4), (3, 7)), ((2, 9), (4, 1))]:
        x = rng.integers(0, 5, shape_x).astype(float)
        k = rng.integers(0, 2, shape_k).astype(float)
        assert np.allclose(correlate(x, k), _naive_full_correlation(x, k), atol=1e-9)


def test_shift_counts_by_hand():
    host = [(0, 0), (0, 1)]  # a horizontal domino
    guest = [(0, 0)]  # one cell
    coll, cont, tr0, tc0 = shift_counts(host, guest)
    at = {(tr0 + i, tc0 + j): (int(coll[i, j]), int(cont[i, j])) for i in range(coll.shape[0])
          for j in range(coll.shape[1])}
    assert at[(0, 0)] == (1, 1) and at[(0, 1)] == (1, 1)  # onto a host cell, touching the other one
    assert at[(0, 2)] == (0, 1) and at[(0, -1)] == (0, 1)  # beside the domino's ends
    assert at[(1, 0)] == (0, 1) and at[(-1, 1)] == (0, 1)  # below / above
    assert at[(1, 1)] == (0, 1) and at.get((1, 2), (0, 0)) == (0, 0)  # a corner cell touches nothing
    shifts = {tuple(s) for s in free_shifts(host, guest, (2, 2), rotations=False, touching=True)}
    assert shifts == {(1, 0), (1, 1), (-1, 0), (-1, 1)}  # the 2 x 2 frame leaves only the cells above or below
