"""Top-k candidate neighbours per edge, computed in chunks from query/key edge features.

A bag of M pieces has M x M ordered pairs per relation; for large bags that table does not fit in
memory, so only the k best partners of every edge (as row *and* as column) are kept, together with
each edge's second-best dissimilarity, which is what the normalisation by the second best needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


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


def _masked_block(q: torch.Tensor, k: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                  owner: torch.Tensor) -> torch.Tensor:
    """Dissimilarity block q @ k.T clipped at 0, with pairs of the same fragment set to +inf."""
    d = (q @ k.T).clamp_min_(0.0)
    same = owner[rows][:, None] == owner[cols][None, :]
    return d.masked_fill_(same, float("inf"))


def top_candidates(query: np.ndarray, key: np.ndarray, owner: np.ndarray, k: int = 4,
                   chunk: int = 2048, dtype: torch.dtype = torch.float64, floor: float = 1e-6) -> Candidates:
    """The k best right/bottom partners of every piece and the k best left/top partners of every piece.

    query, key: (M, F) float edge features with ``D(i, j) = query[i] . key[j]``; owner: (M,) int64
    fragment id of each piece (pieces of one fragment, e.g. its four turns, are never paired).
    The table is scored in blocks of ``chunk`` rows, each block once: row top-k directly, column
    top-k as a running best over blocks, so memory is O(chunk * M) and each product is done once.
    """
    m = query.shape[0]
    kk = min(k + 1, m)
    q = torch.from_numpy(np.ascontiguousarray(query)).to(dtype)
    kt = torch.from_numpy(np.ascontiguousarray(key)).to(dtype)
    own = torch.from_numpy(owner.astype(np.int64))
    allidx = torch.arange(m)
    pairs_i, pairs_j, pairs_d = [], [], []
    row_second = torch.full((m,), float("inf"), dtype=torch.float64)
    col_val = torch.full((0, m), float("inf"), dtype=dtype)
    col_arg = torch.zeros((0, m), dtype=torch.int64)
    for start in range(0, m, chunk):
        idx = allidx[start:start + chunk]
        d = _masked_block(q[idx], kt, idx, allidx, own)  # (B, M)
        val, arg = torch.topk(d, kk, dim=1, largest=False)
        if kk > 1:
            row_second[idx] = val[:, 1].to(torch.float64)
        pairs_i.append(idx[:, None].expand(-1, kk).reshape(-1))
        pairs_j.append(arg.reshape(-1))
        pairs_d.append(val.reshape(-1).to(torch.float64))
        cv, ca = torch.topk(d.T.contiguous(), min(kk, d.shape[0]), dim=1, largest=False)
        cv, ca = cv.T, ca.T  # (<=kk, M): best rows of this block for every column
        col_val = torch.cat([col_val, cv])
        col_arg = torch.cat([col_arg, idx[ca]])
        if col_val.shape[0] > kk:
            col_val, pick = torch.topk(col_val, kk, dim=0, largest=False)
            col_arg = torch.gather(col_arg, 0, pick)
    # ties between blocks are resolved by value only; sort each column's list for a stable order
    col_val, pick = torch.sort(col_val, dim=0, stable=True)
    col_arg = torch.gather(col_arg, 0, pick)
    col_second = col_val[1].to(torch.float64) if col_val.shape[0] > 1 else torch.full((m,), float("inf"),
                                                                                       dtype=torch.float64)
    pairs_i.append(col_arg.T.reshape(-1))
    pairs_j.append(allidx[:, None].expand(-1, col_arg.shape[0]).reshape(-1))
    pairs_d.append(col_val.T.reshape(-1).to(torch.float64))
    i = torch.cat(pairs_i).numpy()
    j = torch.cat(pairs_j).numpy()
    dd = torch.cat(pairs_d).numpy()
    ok = np.isfinite(dd)
    i, j, dd = i[ok], j[ok], dd[ok]
    code = i * m + j
    _, first = np.unique(code, return_index=True)
    i, j, dd = i[first], j[first], dd[first]
    rs, cs = row_second.numpy(), col_second.numpy()
    ref = np.minimum(rs[i], cs[j])
    score = dd / np.maximum(np.where(np.isfinite(ref), ref, np.maximum(dd, floor)), floor)
    return Candidates(i.astype(np.int64), j.astype(np.int64), dd, score, rs, cs)
