"""Training entry point of the case-study autoencoder: config -> data -> model -> Lightning fit."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from unshuffle.errors import ConfigError

PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_find_unused_parameters_true", "fsdp", "single_device")


@dataclass(frozen=True)
class AutoencoderTrainConfig:
    """Settings of one autoencoder training run (the case study's flags, plus a few)."""

    train_dir: str
    output_dir: str
    val_dir: str | None = None        # None: hold aside val_fraction of train_dir's images
    val_fraction: float = 0.05
    split: str | None = None          # split of train_dir to use ("train"), where the data has splits
    image_size: int | None = None     # resize every image to this square size (None: as stored)
    images_per_sample: int = 10       # N images per bag
    grid: int = 4                     # g x g fragments per image
    batch_size: int = 8               # bags per step (8 bags x 160 fragments = 1280 fragments)
    steps_per_epoch: int = 100        # batches per epoch, summed over all processes
    val_steps: int = 50
    max_epochs: int = 50
    lr: float = 1e-3
    weight_decay: float = 0.0
    embedding_dim: int = 64
    width: int = 32
    num_workers: int = 0
    accelerator: str = "auto"
    devices: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    seed: int = 0
    resume: str | None = None         # checkpoint path, or "last" for OUTPUT/checkpoints/last.ckpt
    checkpoint_every_n_steps: int = 0  # also refresh last.ckpt every n steps (0: epoch ends and 10 minutes)
    record_samples: bool = False      # write which bags each rank trained on (drawn_samples/)
    progress: bool = True

    def validate(self) -> AutoencoderTrainConfig:
        """Raise ConfigError naming the first bad field and its valid range."""
        positive = ("images_per_sample", "grid", "batch_size", "steps_per_epoch", "val_steps",
                    "max_epochs", "embedding_dim", "width", "devices")
        for name in positive:
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.devices > 1 and self.steps_per_epoch % self.devices:
            raise ConfigError(f"steps_per_epoch ({self.steps_per_epoch}) must be a multiple of devices "
                              f"({self.devices}) so every process runs the same number of steps")
        if self.checkpoint_every_n_steps < 0:
            raise ConfigError(f"checkpoint_every_n_steps must be >= 0, got {self.checkpoint_every_n_steps}")
        if self.num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0, got {self.num_workers}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive finite number, got {self.lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.accelerator not in ("auto", "cpu", "gpu", "cuda", "mps"):
            raise ConfigError(f"accelerator must be auto, cpu, gpu, cuda or mps, got {self.accelerator!r}")
        if self.image_size is not None and self.image_size % self.grid:
            raise ConfigError(f"image_size {self.image_size} is not divisible by grid {self.grid}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _open_data(cfg: AutoencoderTrainConfig):
    from unshuffle.data import open_images
    from unshuffle.data.loaders import split_holdout

    train = open_images(cfg.train_dir, split=cfg.split, size=cfg.image_size)
    if cfg.val_dir is not None:
        return train, open_images(cfg.val_dir, size=cfg.image_size)
    keep, held = split_holdout(len(train), cfg.val_fraction, cfg.seed)
    return train.subset(keep), train.subset(held)


def train_autoencoder(cfg: AutoencoderTrainConfig, callbacks: list | None = None) -> dict:
    """Train the autoencoder per ``cfg``; returns best/last checkpoint paths and the best val loss.

    ``callbacks``: extra Lightning callbacks (progress hooks, profilers, fault injection in tests).
    Resuming from any checkpoint, mid-epoch included, ends with the weights of an uninterrupted run.
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger
    from lightning.pytorch.utilities import rank_zero_only

    from unshuffle.fragments.bags.sampling import FragmentSampler
    from unshuffle.fragments.baseline.ae_system import AutoencoderSystem
    from unshuffle.fragments.baseline.autoencoder import FragmentAutoencoder
    from unshuffle.fragments.baseline.datamodule import FragmentDataModule
    from unshuffle.runs.atomic import check_writable, writes_reported
    from unshuffle.runs.checkpoints import AtomicCheckpointIO, epoch_metrics_callback
    from unshuffle.runs.layout import RunDir, create_run
    from unshuffle.runs.rolling import RollingCheckpoint

    # ---- config and derived values
    cfg.validate()
    run_path = Path(cfg.output_dir)
    ckpt_path = RunDir(run_path).resume_checkpoint(cfg.resume)
    check_writable(run_path)
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    # ---- data
    train_images, val_images = _open_data(cfg)
    side = train_images.size or train_images.image(0).shape[0]
    if side % cfg.grid:
        raise ConfigError(f"image size {side} of {cfg.train_dir} is not divisible by grid {cfg.grid}")
    fragment_size = side // cfg.grid
    for images in (train_images, val_images):  # fail before anything is written
        FragmentSampler(images, cfg.images_per_sample, cfg.grid, cfg.seed)
    dm = FragmentDataModule(train_images, val_images, images_per_sample=cfg.images_per_sample,
                            grid=cfg.grid, batch_size=cfg.batch_size,
                            steps_per_epoch=cfg.steps_per_epoch, val_steps=cfg.val_steps,
                            num_workers=cfg.num_workers, seed=cfg.seed)

    # ---- model
    model = FragmentAutoencoder(fragment_size, cfg.embedding_dim, cfg.width)
    config = {**cfg.to_dict(), "model": model.arch(),
              "data": {"train_images": len(train_images), "val_images": len(val_images),
                       "fragment_size": fragment_size}}
    # under DDP the launcher re-runs this function in every process: only rank zero creates the run
    if rank_zero_only.rank == 0:
        run = create_run(run_path, config, resume=ckpt_path is not None)
    else:
        run = RunDir(run_path)
    record_dir = str(run.path / "drawn_samples") if cfg.record_samples else None
    system = AutoencoderSystem(model, config, lr=cfg.lr, weight_decay=cfg.weight_decay,
                               record_dir=record_dir)

    # ---- trainer
    # best: rewritten only when val_loss improves; last.ckpt: rolling (every epoch end, every 10 minutes,
    # and every checkpoint_every_n_steps steps when set)
    best = ModelCheckpoint(dirpath=run.checkpoints, filename="fragment-ae-{epoch}-{val_loss:.4f}",
                           monitor="val_loss", mode="min", save_top_k=1,
                           enable_version_counter=False)  # a resumed run rewrites the same best file
    ckpt_callbacks = [best, epoch_metrics_callback(run),
                      RollingCheckpoint(run.last_checkpoint, every_steps=cfg.checkpoint_every_n_steps)]
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy,
        precision=cfg.precision, max_epochs=cfg.max_epochs,
        logger=TensorBoardLogger(save_dir=str(run.path), name="tensorboard", version=""),
        callbacks=[*ckpt_callbacks, *(callbacks or [])],
        plugins=[AtomicCheckpointIO()],
        reload_dataloaders_every_n_epochs=1, enable_progress_bar=cfg.progress,
        log_every_n_steps=max(1, min(50, cfg.steps_per_epoch // 2)), num_sanity_val_steps=0,
        deterministic=True,
    )
    with writes_reported(run.path):
        trainer.fit(system, datamodule=dm, ckpt_path=ckpt_path)
    return {
        "run_dir": str(run.path),
        "best_checkpoint": best.best_model_path,
        "best_val_loss": None if best.best_model_score is None else float(best.best_model_score),
        "last_checkpoint": str(run.last_checkpoint),
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
    }
