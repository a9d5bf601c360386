"""Collisions and contacts of every shift of one cluster against another, as 2-D correlations."""

from __future__ import annotations

import numpy as np


def correlate(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The full 2-D cross-correlation of ``x`` (M, N) with ``k`` (K, L) by FFT: (M + K - 1, N + L - 1) float64,
    ``out[i, j] = sum_ab k[a, b] x[i - (K - 1) + a, j - (L - 1) + b]`` (scipy.signal's ``mode="full"``; numpy
    only, so the solver does not import scipy.signal, 0.6 s at start-up)."""
    shape = (x.shape[0] + k.shape[0] - 1, x.shape[1] + k.shape[1] - 1)
    return np.fft.irfft2(np.fft.rfft2(x, shape) * np.fft.rfft2(k[::-1, ::-1], shape), shape)


def shift_counts(host: list[tuple[int, int]], guest: list[tuple[int, int]]
                 ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """For every shift (tr, tc) that brings ``guest`` cells next to or onto ``host`` cells: how many
    guest cells land on host cells (collisions) and how many host cells are 4-neighbours of the
    landed guest cells (contacts).

    host, guest: (row, col) cells. Returns (collisions, contacts, tr0, tc0): (A, B) int64 arrays where
    entry [i, j] is the shift (tr0 + i, tc0 + j); every shift outside them has no collision and no
    contact. One FFT correlation each, instead of one Python test per shift.
    """
    h = np.array(host, np.int64).reshape(-1, 2)
    g = np.array(guest, np.int64).reshape(-1, 2)
    h0 = h.min(axis=0) - 1  # the host grid is padded by one cell for the contacts
    hs = h.max(axis=0) - h0 + 2
    occ = np.zeros(tuple(hs))
    occ[h[:, 0] - h0[0], h[:, 1] - h0[1]] = 1.0
    near = np.zeros_like(occ)
    near[1:] += occ[:-1]
    near[:-1] += occ[1:]
    near[:, 1:] += occ[:, :-1]
    near[:, :-1] += occ[:, 1:]
    g0 = g.min(axis=0)
    gs = g.max(axis=0) - g0 + 1
    gocc = np.zeros(tuple(gs))
    gocc[g[:, 0] - g0[0], g[:, 1] - g0[1]] = 1.0
    # correlate(x, k)[i, j] = sum_ab k[a, b] x[i - (K - 1) + a, j - (L - 1) + b]: the guest's
    # cell (a, b) at host-grid cell (u + a, v + b), u = i - (K - 1); the shift is u + h0 - g0
    coll = np.rint(correlate(occ, gocc)).astype(np.int64)
    cont = np.rint(correlate(near, gocc)).astype(np.int64)
    tr0 = int(h0[0] - g0[0] - (gs[0] - 1))
    tc0 = int(h0[1] - g0[1] - (gs[1] - 1))
    return coll, cont, tr0, tc0


def free_shifts(host: list[tuple[int, int]], guest: list[tuple[int, int]], frame: tuple[int, int] | None,
                rotations: bool, touching: bool) -> np.ndarray:
    """(K, 2) int64 shifts (tr, tc), in increasing (tr, tc) order, that move ``guest`` cells onto no
    ``host`` cell with the union inside ``frame`` (either way round when ``rotations``), and when
    ``touching`` next to at least one host cell. Without a frame the union is kept within the two
    clusters' summed extents (a free shift always exists there)."""
    h = np.array(host, np.int64).reshape(-1, 2)
    g = np.array(guest, np.int64).reshape(-1, 2)
    hmin, hmax, gmin, gmax = h.min(axis=0), h.max(axis=0), g.min(axis=0), g.max(axis=0)
    span = np.full(2, max(frame)) if frame is not None else (hmax - hmin) + (gmax - gmin) + 2
    tr = np.arange(hmax[0] - span[0] + 1 - gmin[0], hmin[0] + span[0] - gmax[0])
    tc = np.arange(hmax[1] - span[1] + 1 - gmin[1], hmin[1] + span[1] - gmax[1])
    if tr.size == 0 or tc.size == 0:
        return np.zeros((0, 2), np.int64)
    t_r, t_c = np.meshgrid(tr, tc, indexing="ij")
    ok = np.ones(t_r.shape, bool)
    if frame is not None:
        rows = np.maximum(hmax[0], gmax[0] + t_r) - np.minimum(hmin[0], gmin[0] + t_r) + 1
        cols = np.maximum(hmax[1], gmax[1] + t_c) - np.minimum(hmin[1], gmin[1] + t_c) + 1
        ok = (rows <= frame[0]) & (cols <= frame[1])
        if rotations:
            ok |= (rows <= frame[1]) & (cols <= frame[0])
    coll, cont, tr0, tc0 = shift_counts(host, guest)
    i, j = t_r - tr0, t_c - tc0
    inside = (i >= 0) & (i < coll.shape[0]) & (j >= 0) & (j < coll.shape[1])
    hit = np.zeros(t_r.shape, np.int64)
    hit[inside] = coll[i[inside], j[inside]]
    ok &= hit == 0
    if touching:
        near = np.zeros(t_r.shape, np.int64)
        near[inside] = cont[i[inside], j[inside]]
        ok &= near > 0
    return np.stack([t_r[ok], t_c[ok]], axis=1)
