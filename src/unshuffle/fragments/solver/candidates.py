"""Top-k candidate neighbours per edge, computed in chunks from query/key edge features (NumPy only).

A bag of M pieces has M x M ordered pairs per relation; for large bags that table does not fit in
memory, so only the k best partners of every edge (as row *and* as column) are kept, together with
each edge's second-best dissimilarity, which is what the normalisation by the second best needs.
Partners are ranked by (dissimilarity, index), so ties go to the lower index and the result does
not depend on the block size.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """Sparse candidate pairs of one relation (j right of / below i).

    Attributes:
        i, j: (E,) int64 piece indices of each candidate pair.
        d: (E,) float64 dissimilarity of the pair (>= 0).
        score: (E,) float64 ``d / min(second_best_row[i], second_best_col[j])``: below 1 for best
            buddies with a margin; the placer merges in increasing score.
        row_second, col_second: (M,) float64 second-smallest dissimilarity of each piece as left/top
            partner (row) and as right/bottom partner (column); +inf when unknown.
    """

    i: np.ndarray
    j: np.ndarray
    d: np.ndarray
    score: np.ndarray
    row_second: np.ndarray
    col_second: np.ndarray


def _masked_block(q: np.ndarray, key: np.ndarray, own_rows: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Dissimilarity block q @ key.T clipped at 0, with pairs of the same fragment set to +inf.

    NaN products (non-finite features) are set to +inf too, so they are never candidates.
    """
    d = q @ key.T
    np.maximum(d, 0.0, out=d)
    if np.isnan(d.min()):
        d[np.isnan(d)] = np.inf
    d[own_rows[:, None] == owner[None, :]] = np.inf
    return d


def _span(d: np.ndarray, a: int, b: int, axis: int) -> np.ndarray:
    return d[:, a:b] if axis == 1 else d[a:b]


def _smallest(d: np.ndarray, n: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The n smallest entries of d (B, M) along ``axis`` (1: of each row, 0: of each column), ranked
    by (value, index) so that of equal values the lower indices are kept and come first.

    Returns values and indices, each (lanes, n) with one lane per row (axis=1) or column (axis=0).
    Entries are preselected with a cheap per-lane bound (the largest of the minima of n disjoint
    index ranges: each range holds an entry <= it, so at least n entries pass), then only those few
    are sorted; lanes where the bound lets too many through use their exact n-th smallest instead.
    """
    lanes, size = (d.shape[0], d.shape[1]) if axis == 1 else (d.shape[1], d.shape[0])
    n = min(n, size)
    if n <= 0:
        return np.zeros((lanes, 0), dtype=d.dtype), np.zeros((lanes, 0), dtype=np.int64)
    edges = (np.arange(n + 1) * size) // n
    t = np.max([_span(d, a, b, axis).min(axis=axis) for a, b in pairwise(edges.tolist())], axis=0)
    mask = d <= (t[:, None] if axis == 1 else t[None, :])
    heavy = np.flatnonzero(np.count_nonzero(mask, axis=axis) > 4 * n + 64)
    if heavy.size:
        sub = d[heavy] if axis == 1 else d[:, heavy]
        t[heavy] = np.take(np.partition(sub, n - 1, axis=axis), n - 1, axis=axis)
        if axis == 1:
            mask[heavy] = sub <= t[heavy, None]
        else:
            mask[:, heavy] = sub <= t[None, heavy]
    rows, cols = np.divmod(np.flatnonzero(mask), d.shape[1])
    del mask
    val = d[rows, cols]
    lane, idx = (rows, cols) if axis == 1 else (cols, rows)
    order = np.lexsort((idx, val, lane))
    lane, idx, val = lane[order], idx[order], val[order]
    first = np.searchsorted(lane, np.arange(lanes))
    keep = np.arange(lane.size) - first[lane] < n
    return val[keep].reshape(lanes, n), idx[keep].reshape(lanes, n)


def top_candidates(query: np.ndarray, key: np.ndarray, owner: np.ndarray, k: int = 4,
                   chunk: int = 2048, dtype: np.dtype = np.float64, floor: float = 1e-6) -> Candidates:
    """The k best right/bottom partners of every piece and the k best left/top partners of every piece.

    query, key: (M, F) float edge features with ``D(i, j) = query[i] . key[j]``; owner: (M,) int
    fragment id of each piece (pieces of one fragment, e.g. its four turns, are never paired).
    The products are taken in ``dtype`` (float32 halves memory and time on large bags). The table is
    scored in blocks of ``chunk`` rows, each block once: row top-k directly, column top-k as a
    running best over blocks, so memory is O(chunk * M) and each product is done once. Each row
    and column keeps its ``min(k + 1, M)`` smallest entries, ties going to the lower index.
    """
    m = query.shape[0]
    kk = min(k + 1, m)
    q = np.ascontiguousarray(query, dtype=dtype)
    kt = np.ascontiguousarray(key, dtype=dtype)
    own = np.asarray(owner).astype(np.int64)
    pairs_i, pairs_j, pairs_d = [], [], []
    row_second = np.full(m, np.inf)
    col_val = np.full((0, m), np.inf, dtype=dtype)
    col_arg = np.zeros((0, m), dtype=np.int64)
    for start in range(0, m, chunk):
        stop = min(start + chunk, m)
        d = _masked_block(q[start:stop], kt, own[start:stop], own)  # (B, M)
        val, arg = _smallest(d, kk, axis=1)
        if kk > 1:
            row_second[start:stop] = val[:, 1]
        pairs_i.append(np.repeat(np.arange(start, stop), kk))
        pairs_j.append(arg.reshape(-1))
        pairs_d.append(val.reshape(-1).astype(np.float64))
        cv, ca = _smallest(d, kk, axis=0)  # (M, <=kk): best rows of this block per column
        del d
        col_val = np.concatenate([col_val, cv.T])
        col_arg = np.concatenate([col_arg, ca.T + start])
        pick = np.lexsort((col_arg, col_val), axis=0)[:kk]  # running best: kk smallest by (value, row)
        col_val = np.take_along_axis(col_val, pick, 0)
        col_arg = np.take_along_axis(col_arg, pick, 0)
    col_second = col_val[1].astype(np.float64) if col_val.shape[0] > 1 else np.full(m, np.inf)
    pairs_i.append(col_arg.T.reshape(-1))
    pairs_j.append(np.repeat(np.arange(m), col_arg.shape[0]))
    pairs_d.append(col_val.T.reshape(-1).astype(np.float64))
    i = np.concatenate(pairs_i).astype(np.int64)
    j = np.concatenate(pairs_j).astype(np.int64)
    dd = np.concatenate(pairs_d)
    ok = np.isfinite(dd)
    i, j, dd = i[ok], j[ok], dd[ok]
    code = i * m + j
    _, first = np.unique(code, return_index=True)
    i, j, dd = i[first], j[first], dd[first]
    ref = np.minimum(row_second[i], col_second[j])
    score = dd / np.maximum(np.where(np.isfinite(ref), ref, np.maximum(dd, floor)), floor)
    return Candidates(i, j, dd, score, row_second, col_second)
