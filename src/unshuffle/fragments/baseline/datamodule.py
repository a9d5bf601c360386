"""The autoencoder's LightningDataModule: bags of fragments drawn by FragmentSampler (fresh bags every epoch)."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from unshuffle.data.imageset import ImageSet
from unshuffle.data.loaders import ResumableLoader
from unshuffle.fragments.bags.sampling import FragmentSampler


class FragmentBagDataset(Dataset):
    """Item ``i`` is bag ``offset + i`` of ``sampler``: {"fragments": (M, 3, s, s) float32 in [0, 1],
    "index": int}. Being a pure function of the index, it splits cleanly across DDP ranks."""

    def __init__(self, sampler: FragmentSampler, length: int, offset: int = 0, skip_batches: int = 0):
        self.sampler = sampler
        self.length = length
        self.offset = offset
        self.skip_batches = skip_batches  # read (once) by ResumableLoader on its next pass

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        index = self.offset + int(i)
        bag = self.sampler.sample(index)
        x = torch.from_numpy(bag.fragments).permute(0, 3, 1, 2).float().div_(255.0)
        return {"fragments": x, "index": index}


class FragmentDataModule(L.LightningDataModule):
    """Training bags change every epoch (offset = epoch * bags_per_epoch); validation bags are fixed.

    ``steps_per_epoch`` and ``val_steps`` count batches summed over all processes: under DDP with W
    processes each one runs steps_per_epoch / W steps on its own share of the same bags, so the union
    of what the ranks draw equals what one process draws. ``steps_per_epoch`` must be a multiple
    of the number of processes.
    """

    def __init__(self, train_images: ImageSet, val_images: ImageSet, *, images_per_sample: int = 10,
                 grid: int = 4, batch_size: int = 8, steps_per_epoch: int = 100, val_steps: int = 50,
                 num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.train_images = train_images
        self.val_images = val_images
        self.images_per_sample = images_per_sample
        self.grid = grid
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.val_steps = val_steps
        self.num_workers = num_workers
        self.seed = seed
        self.train_sampler: FragmentSampler | None = None
        self.val_sampler: FragmentSampler | None = None

    def setup(self, stage: str | None = None) -> None:
        self.train_sampler = FragmentSampler(self.train_images, self.images_per_sample, self.grid, self.seed)
        # a different stream for validation, on its own (held-out) images
        self.val_sampler = FragmentSampler(self.val_images, self.images_per_sample, self.grid, self.seed + 1)

    def _loader(self, ds: Dataset) -> DataLoader:
        return DataLoader(ds, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers,
                          persistent_workers=False, drop_last=False)

    def train_dataloader(self) -> DataLoader:
        n = self.steps_per_epoch * self.batch_size
        epoch, done = 0, 0
        if self.trainer is not None:
            # The position in the bag stream follows from the optimiser steps taken (each consumed
            # one batch per process), whatever the loop's epoch counter says at restore time; after a
            # mid-epoch restore the loader skips the batches already trained on, so a resumed run
            # ends with the weights of an uninterrupted one.
            epoch, done = divmod(self.trainer.global_step, self.steps_per_epoch // self.trainer.world_size)
        ds = FragmentBagDataset(self.train_sampler, n, offset=epoch * n, skip_batches=done)
        return ResumableLoader(ds, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers,
                               persistent_workers=False)

    def val_dataloader(self) -> DataLoader:
        return self._loader(FragmentBagDataset(self.val_sampler, self.val_steps * self.batch_size))
