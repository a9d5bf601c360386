"""Tiny default-checkpointing settings of every trainer, shared by the kill tests and their script."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# 64 features, batch 16: 4 steps per epoch, 3 epochs; checkpointing left at its defaults
TEMI = ["clusters=3", "head.n_heads=2", "head.hidden_dim=16", "head.bottleneck_dim=8", "optim.epochs=3",
        "optim.batch_size=16", "optim.warmup_epochs=1", "loss.teacher_temp_warmup_epochs=1", "knn=4",
        "accelerator=cpu", "seed=3"]
STEPS = {"temi": 4, "ae": 4, "pair": 3, "ae-ddp": 2}  # optimiser steps per epoch (per process under DDP)
EPOCHS = {"temi": 3, "ae": 2, "pair": 2, "ae-ddp": 2}


def make_data(folder: Path) -> Path:
    """Features (TEMI) and images (autoencoder, pair model) in one .npz; returns its path."""
    import torch

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(64, 12, generator=g)
    f = torch.nn.functional.normalize(feats, dim=1)
    nbrs = (f @ f.T).fill_diagonal_(-2).topk(6, dim=1).indices
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, size=(16, 4, 4, 3)).astype(np.float32)
    images = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)  # (16, 32, 32, 3)
    images = (images + rng.integers(0, 8, size=images.shape)).clip(0, 255).astype(np.uint8)
    path = Path(folder) / "data.npz"
    np.savez(path, feats=feats.numpy(), nbrs=nbrs.numpy(), images=images)
    return path


def run_trainer(name: str, data, out, *, resume: bool = False, callbacks=None) -> dict:
    """Train (or resume) ``name`` on ``data`` into ``out`` with default checkpoint settings."""
    if name == "temi":
        from unshuffle.clustering.config import load_config
        from unshuffle.clustering.train import train_temi

        with np.load(data) as z:
            feats, nbrs = z["feats"], z["nbrs"]
        return train_temi(None if resume else load_config(overrides=TEMI), feats, nbrs, out, resume=resume,
                          callbacks=callbacks)
    if name in ("ae", "ae-ddp"):  # ae-ddp: 2 gloo CPU processes, the epoch's 4 steps shared between them
        from unshuffle.fragments.baseline.ae_training import (
            AutoencoderTrainConfig,
            train_autoencoder,
        )

        ddp = {"devices": 2, "strategy": "ddp"} if name == "ae-ddp" else {}
        cfg = AutoencoderTrainConfig(
            train_dir=str(data), output_dir=str(out), val_fraction=0.25, images_per_sample=4, grid=4,
            batch_size=2, steps_per_epoch=4, val_steps=2, max_epochs=EPOCHS[name], accelerator="cpu",
            progress=False, embedding_dim=8, width=8, resume="last" if resume else None, **ddp)
        return train_autoencoder(cfg, callbacks=callbacks)
    from unshuffle.fragments.learned.pair_training import PairTrainConfig, train_pair_model

    cfg = PairTrainConfig(
        train_dir=str(data), output_dir=str(out), images_per_batch=4, pairs_per_image=2, fragment_size=8,
        steps_per_epoch=STEPS["pair"], val_steps=1, max_epochs=EPOCHS["pair"], width=4, dim=8, band=3,
        val_fraction=0.2, accelerator="cpu", progress=False, resume="last" if resume else None)
    return train_pair_model(cfg, callbacks=callbacks)
