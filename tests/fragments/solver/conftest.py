"""Fixtures shared by the solver's tests: seam tables of two real photos cut into pieces."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.fragments.solver import grow

PHOTO_ROWS, PHOTO_COLS = 8, 12


@pytest.fixture(scope="session")
def chelsea_coffee() -> grow.PieceTables:
    """Chelsea and coffee, each 8 x 12 pieces of 24 px (fragment 12 r + c, coffee's after chelsea's):
    the seam tables of the 192 unturned pieces."""
    import skimage.data

    from unshuffle.fragments.solver.compatibility import relation_features

    piece = 24
    frags = []
    for img in (skimage.data.chelsea(), skimage.data.coffee()):
        f = img[:PHOTO_ROWS * piece, :PHOTO_COLS * piece].reshape(PHOTO_ROWS, piece, PHOTO_COLS, piece, 3)
        frags.append(f.transpose(0, 2, 1, 3, 4).reshape(-1, piece, piece, 3))
    frags = np.ascontiguousarray(np.concatenate(frags))
    m = len(frags)
    return grow.piece_tables(relation_features(frags, "prediction", 1.0), np.arange(m), np.zeros(m, np.int64), False)
