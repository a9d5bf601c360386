"""Training-data plumbing shared by every trainer: a seeded hold-out split and a loader that resumes mid-epoch."""

from __future__ import annotations

import math

import numpy as np
from torch.utils.data import DataLoader


def split_holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of range(n) into (train, held-out) index arrays; held-out has ceil(n*fraction)."""
    perm = np.random.default_rng(np.random.SeedSequence([seed, 7919])).permutation(n)
    k = max(1, math.ceil(n * fraction))
    return np.sort(perm[k:]), np.sort(perm[:k])


class ResumableLoader(DataLoader):
    """A DataLoader Lightning treats as resumable: ``len()`` is the whole epoch, and the first pass
    after a mid-epoch restore drops the ``dataset.skip_batches`` batches that were already trained on.

    The skip count lives on the dataset so it survives Lightning re-creating the loader with a
    DistributedSampler; the loader itself has no state to save (bags are a function of the index).
    """

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"unexpected data loader state {state!r}")

    def __iter__(self):
        it = super().__iter__()
        skip = getattr(self.dataset, "skip_batches", 0)
        if skip:
            self.dataset.skip_batches = 0
            for _ in range(skip):
                next(it)
        return it
