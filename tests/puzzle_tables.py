"""Test helper: the dense trim-and-fill score tables (RIGHT, DOWN) of upright fragments, as the solver builds them."""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver import compatibility as compat
from unshuffle.fragments.solver.candidates import top_candidates
from unshuffle.fragments.solver.refine import dense_scores


def dense_tables(frags: np.ndarray, k: int = 3) -> list[np.ndarray]:
    """[RIGHT, DOWN] (M, M) normalised dissimilarities of fragments (M, s, s, 3) uint8 (``refine.dense_scores``)."""
    owner = np.arange(len(frags))
    tables = []
    for view in (frags, frags.transpose(0, 2, 1, 3)):
        q, key = compat.edge_features(compat.rgb_to_lab(view))
        c = top_candidates(q, key, owner, k=k)
        tables.append(dense_scores(q, key, c.row_second, c.col_second, owner))
    return tables
