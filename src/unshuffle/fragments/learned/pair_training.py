"""Training of the edge pair model through Lightning: config -> image pool -> InfoNCE on adjacent crops."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unshuffle.errors import ConfigError


@dataclass(frozen=True)
class PairTrainConfig:
    """Settings of one pair-model training run."""

    train_dir: str
    output_dir: str
    split: str | None = None       # split of train_dir to use, where the data has splits
    max_images: int = 0            # use at most this many images (seeded choice; 0 = all)
    val_fraction: float = 0.05     # held aside for validation batches
    images_per_batch: int = 64
    pairs_per_image: int = 4       # B = images_per_batch * pairs_per_image pairs per step
    fragment_size: int = 16
    steps_per_epoch: int = 200     # summed over processes
    val_steps: int = 10
    max_epochs: int = 10
    lr: float = 2e-3
    weight_decay: float = 1e-4
    width: int = 32
    dim: int = 96
    band: int = 8
    accelerator: str = "auto"
    devices: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    seed: int = 0
    resume: str | None = None      # checkpoint path, or "last"
    export: str | None = None      # also write the final weights as a pair-model .npz here
    progress: bool = True

    def validate(self) -> PairTrainConfig:
        """Raise ConfigError naming the first bad field and its valid range."""
        for name in ("images_per_batch", "pairs_per_image", "steps_per_epoch", "val_steps", "max_epochs",
                     "width", "dim", "band", "devices"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if self.fragment_size < 4:
            raise ConfigError(f"fragment_size must be >= 4, got {self.fragment_size}")
        if not 1 <= self.band <= self.fragment_size:
            raise ConfigError(f"band must be in 1..fragment_size ({self.fragment_size}), got {self.band}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.max_images < 0:
            raise ConfigError(f"max_images must be >= 0, got {self.max_images}")
        if self.devices > 1 and self.steps_per_epoch % self.devices:
            raise ConfigError(f"steps_per_epoch ({self.steps_per_epoch}) must be a multiple of "
                              f"devices ({self.devices})")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive finite number, got {self.lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _first(batch: list) -> dict:
    """Collate for loaders whose items are whole batches."""
    return batch[0]


def load_pool(cfg: PairTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) uint8 image arrays: the seeded ``max_images`` choice, ``val_fraction`` held aside."""
    from unshuffle.data import open_images
    from unshuffle.data.loaders import split_holdout

    images = open_images(cfg.train_dir, split=cfg.split)
    n = len(images)
    idx = np.arange(n)
    if cfg.max_images and cfg.max_images < n:
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 104729]))
        idx = np.sort(rng.choice(n, cfg.max_images, replace=False))
    keep, held = split_holdout(len(idx), cfg.val_fraction, cfg.seed)
    pool = images.images(idx)
    if pool.ndim != 4 or min(pool.shape[1:3]) < 2 * cfg.fragment_size:
        raise ConfigError(f"{cfg.train_dir}: images of {pool.shape[1:3]} px are too small for two "
                          f"{cfg.fragment_size} px crops side by side")
    return pool[keep], pool[held]


def _system(model, config: dict, lr: float, weight_decay: float, total_steps: int):
    import lightning as L
    import torch
    import torch.nn.functional as F

    from unshuffle.runs.checkpoints import RunStateHooks

    class PairSystem(RunStateHooks, L.LightningModule):
        """Symmetric InfoNCE over the (B, B) logits of left edges against right edges."""

        def __init__(self):
            super().__init__()
            self.model = model
            self.config = config

        def _step(self, batch: dict) -> tuple:
            logits = self.model(batch["left"], batch["right"], float(batch["gap"]))
            target = torch.arange(logits.shape[0], device=logits.device)
            loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
            top1 = (logits.argmax(1) == target).float().mean()
            return loss, top1, logits.shape[0]

        def training_step(self, batch: dict, batch_idx: int):
            loss, top1, n = self._step(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss is {loss.item()} at step {self.global_step}")
            self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=n)
            self.log("train_top1", top1, on_epoch=True, sync_dist=True, batch_size=n)
            return loss

        def validation_step(self, batch: dict, batch_idx: int) -> None:
            loss, top1, n = self._step(batch)
            self.log("val_loss", loss, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=n)
            self.log("val_top1", top1, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=n)

        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=weight_decay)
            warm = max(1, total_steps // 20)

            def factor(step: int) -> float:  # linear warm-up, then cosine to 5% of the rate
                if step < warm:
                    return (step + 1) / warm
                t = min(1.0, (step - warm) / max(1, total_steps - warm))
                return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return PairSystem()


def _datamodule(train: np.ndarray, val: np.ndarray, cfg: PairTrainConfig):
    import lightning as L

    from unshuffle.data.loaders import ResumableLoader
    from unshuffle.fragments.learned.pair_data import PairBatches

    kw = {"images_per_batch": cfg.images_per_batch, "pairs_per_image": cfg.pairs_per_image,
          "size": cfg.fragment_size}

    class PairDataModule(L.LightningDataModule):
        """Training batches continue the (seed, step) stream from the optimiser step reached; validation is fixed."""

        def train_dataloader(self):
            epoch, done = 0, 0
            if self.trainer is not None:
                epoch, done = divmod(self.trainer.global_step, cfg.steps_per_epoch // self.trainer.world_size)
            ds = PairBatches(train, cfg.steps_per_epoch, offset=epoch * cfg.steps_per_epoch, skip_batches=done,
                             seed=cfg.seed, **kw)
            return ResumableLoader(ds, batch_size=1, shuffle=False, collate_fn=_first)

        def val_dataloader(self):
            from torch.utils.data import DataLoader

            return DataLoader(PairBatches(val, cfg.val_steps, seed=cfg.seed + 1, **kw), batch_size=1,
                              shuffle=False, collate_fn=_first)

    return PairDataModule()


def train_pair_model(cfg: PairTrainConfig, callbacks: list | None = None) -> dict:
    """Train the edge pair model per ``cfg``; returns checkpoint paths, val metrics and the export path."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger
    from lightning.pytorch.utilities import rank_zero_only

    from unshuffle.fragments.learned.pair_model import (
        EdgePairModel,
        pair_model_from_checkpoint,
        save_pair_model,
    )
    from unshuffle.runs.atomic import check_writable, writes_reported
    from unshuffle.runs.checkpoints import AtomicCheckpointIO, epoch_metrics_callback
    from unshuffle.runs.layout import RunDir, create_run
    from unshuffle.runs.rolling import RollingCheckpoint

    cfg.validate()
    run_path = Path(cfg.output_dir)
    ckpt_path = RunDir(run_path).resume_checkpoint(cfg.resume)
    check_writable(run_path)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    train, val = load_pool(cfg)
    model = EdgePairModel(cfg.width, cfg.dim, cfg.band, cfg.fragment_size)
    config = {**cfg.to_dict(), "model": model.arch(), "data": {"train_images": len(train), "val_images": len(val)}}
    run = create_run(run_path, config, resume=ckpt_path is not None) if rank_zero_only.rank == 0 else RunDir(run_path)
    total = cfg.max_epochs * cfg.steps_per_epoch // cfg.devices
    system = _system(model, config, cfg.lr, cfg.weight_decay, total)
    best = ModelCheckpoint(dirpath=run.checkpoints, filename="pair-{epoch}-{val_loss:.4f}", monitor="val_loss",
                           mode="min", save_top_k=1, enable_version_counter=False)  # last.ckpt: RollingCheckpoint
    t0 = time.time()
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy, precision=cfg.precision,
        max_epochs=cfg.max_epochs,
        logger=TensorBoardLogger(save_dir=str(run.path), name="tensorboard", version=""),
        callbacks=[best, epoch_metrics_callback(run), RollingCheckpoint(run.last_checkpoint), *(callbacks or [])],
        plugins=[AtomicCheckpointIO()],
        reload_dataloaders_every_n_epochs=1, enable_progress_bar=cfg.progress,
        log_every_n_steps=max(1, min(50, cfg.steps_per_epoch // 4)), num_sanity_val_steps=0, deterministic=True,
    )
    with writes_reported(run.path):
        trainer.fit(system, datamodule=_datamodule(train, val, cfg), ckpt_path=ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_")}
    out = {"run_dir": str(run.path), "best_checkpoint": best.best_model_path,
           "last_checkpoint": str(run.last_checkpoint), "global_step": trainer.global_step,
           "seconds": round(time.time() - t0, 1), **metrics}
    if cfg.export and trainer.is_global_zero:
        final = pair_model_from_checkpoint(best.best_model_path or run.last_checkpoint)
        save_pair_model(final, cfg.export, meta={"trained_on": cfg.train_dir, "steps": trainer.global_step,
                                                 "config": cfg.to_dict(), **metrics})
        out["export"] = cfg.export
    return out
