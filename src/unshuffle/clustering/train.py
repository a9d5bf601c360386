"""train_temi: TEMI heads on cached features through Lightning, into a run folder; then label-free export."""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from unshuffle.clustering.config import (
    TemiConfig,
    batch_for,
    config_from_dict,
    flatten_settings,
    neighbours_for,
)
from unshuffle.clustering.heads import MultiHeadMLP
from unshuffle.clustering.predict import MODEL_FORMAT
from unshuffle.errors import CheckpointError, ConfigError, UnshuffleError


class TrainingInterrupted(UnshuffleError):
    """Ctrl+C or SIGTERM stopped training; a checkpoint was saved first."""


class GpuOutOfMemory(UnshuffleError):
    """The accelerator ran out of memory; the message suggests a smaller batch."""


class NeighbourPairBatches:
    """The training batches of one epoch: ``(x, x_nn)`` pairs, each (B, D) float32.

    The order of the images and the neighbour drawn for each (one of its first ``knn``, uniformly)
    are a pure function of ``(seed, epoch)``, so no RNG state needs saving. Lightning sees a resumable
    loader (``state_dict``/``load_state_dict``, with no state): ``len()`` is the whole epoch, and the
    position in the stream follows from the optimiser steps taken (``position()``, normally
    ``trainer.global_step``), so after a mid-epoch restore the batches already trained on are skipped
    and a resumed run ends with the weights of an uninterrupted one.

    Args:
        feats: (N, D) float32 features; neighbors: (N, k0) int64, self excluded; batch_size: B.
    """

    def __init__(self, feats: torch.Tensor, neighbors: torch.Tensor, knn: int, batch_size: int, seed: int):
        self.feats = feats
        self.neighbors = neighbors[:, :knn]
        self.batch_size = batch_size
        self.seed = seed
        self.position: Callable[[], int] = lambda: 0  # optimiser steps taken so far; set to the trainer's

    def __len__(self) -> int:
        return math.ceil(self.feats.shape[0] / self.batch_size)

    def epoch_order(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(order (N,) int64: image indices in batch order, pick (N,) int64: neighbour column per image)."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.feats.shape[0], generator=gen)
        pick = torch.randint(self.neighbors.shape[1], (self.feats.shape[0],), generator=gen)
        return order, pick

    def __iter__(self):
        epoch, done = divmod(self.position(), len(self))
        order, pick = self.epoch_order(epoch)
        for start in range(done * self.batch_size, order.shape[0], self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.feats[idx], self.feats[self.neighbors[idx, pick[idx]]]

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise CheckpointError(f"unexpected TEMI data loader state in the checkpoint: {sorted(state)}")


def _check_inputs(cfg: TemiConfig, features, neighbors) -> tuple[torch.Tensor, torch.Tensor, int]:
    feats = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    nbrs = torch.as_tensor(np.asarray(neighbors), dtype=torch.long)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ConfigError(f"features must be (N, D) with N >= 2, got shape {tuple(feats.shape)}")
    if not torch.isfinite(feats).all():
        raise ConfigError("features hold NaN or infinite values")
    if nbrs.ndim != 2 or nbrs.shape[0] != feats.shape[0]:
        raise ConfigError(f"neighbors must be (N={feats.shape[0]}, k), got shape {tuple(nbrs.shape)}")
    knn = neighbours_for(cfg.knn, feats.shape[0], cfg.clusters)
    if nbrs.shape[1] < knn:
        raise ConfigError(f"knn must be <= the {nbrs.shape[1]} mined neighbours per image, got {knn}")
    if nbrs.min() < 0 or nbrs.max() >= feats.shape[0]:
        raise ConfigError("neighbors hold indices outside [0, N)")
    if cfg.clusters > feats.shape[0]:
        raise ConfigError(f"clusters must be <= the number of images ({feats.shape[0]}), got {cfg.clusters}")
    return feats, nbrs, knn


def train_temi(cfg: TemiConfig | None, features, neighbors, run_dir: str | Path, *, resume: bool = False,
               overwrite: bool = False, record: dict | None = None, progress: bool = False,
               callbacks: list | None = None) -> dict:
    """Train TEMI heads on ``features`` (N, D) float32 with ``neighbors`` (N, k) int64; return metrics.

    Writes into ``run_dir`` (see :class:`unshuffle.runs.layout.RunDir`): config.json (resolved config
    plus ``record``, e.g. the backbone spec), metrics.jsonl (one line per epoch), tensorboard/,
    checkpoints/{last,best}.ckpt (plus epochNNNN.ckpt with checkpoint_every), model.pt (teacher heads
    of the label-free best checkpoint, loadable without Lightning) and assignments.npz (cluster,
    confidence per training image).
    With ``resume`` the run continues from checkpoints/last.ckpt using the run's saved config;
    ``cfg`` may then be None, and any difference from the saved config is refused. A mid-epoch
    checkpoint (``checkpoint_every_steps``, Ctrl+C) resumes exactly: the batches are a function of
    (seed, epoch, step) and the epoch's running head losses are in the checkpoint. ``callbacks`` are
    extra Lightning callbacks (tests).
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    from unshuffle.clustering.temi_loss import TEMILoss
    from unshuffle.clustering.temi_system import TemiSystem
    from unshuffle.clustering.training_callbacks import EpochLog, InterruptCheckpoint
    from unshuffle.runs.atomic import writes_reported
    from unshuffle.runs.checkpoints import AtomicCheckpointIO
    from unshuffle.runs.layout import RunDir, create_run
    from unshuffle.runs.rolling import RollingCheckpoint

    # ============ config ============
    run_dir = Path(run_dir)
    ckpt_path = None
    if resume:
        saved = RunDir(run_dir).read_config()["config"]
        if "min_steps_per_epoch" not in saved["temi"].get("optim", {}):
            # made before optim.min_steps_per_epoch existed: it trained with the configured batch
            saved["temi"].setdefault("optim", {})["min_steps_per_epoch"] = 0
            if cfg is not None:
                cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, min_steps_per_epoch=0))
        saved_cfg = config_from_dict(saved["temi"])
        if cfg is not None and cfg != saved_cfg:
            before = flatten_settings(saved["temi"])
            diff = {k for k, v in flatten_settings(cfg.to_dict()).items() if before.get(k) != v}
            raise ConfigError(f"{run_dir}: --resume with settings that differ from the run's config: {sorted(diff)}")
        cfg = saved_cfg
        record = {k: v for k, v in saved.items() if k != "temi"}
        ckpt_path = RunDir(run_dir).last_checkpoint
        if not ckpt_path.is_file():
            raise CheckpointError(f"{ckpt_path}: nothing to resume (no last checkpoint)")
    elif cfg is None:
        raise ConfigError("a config is needed unless resuming")
    cfg.validate()
    feats, nbrs, knn = _check_inputs(cfg, features, neighbors)
    cache = (record or {}).get("cache_dir")  # a feature cache inside the old run folder survives an overwrite
    run = create_run(run_dir, {"temi": cfg.to_dict(), **(record or {})}, resume=resume, overwrite=overwrite,
                     keep=(cache,) if cache else ())

    # ============ derived values and device ============
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    batch_size, scale = batch_for(cfg.optim, feats.shape[0])  # small collections: smaller batch, more steps
    steps_per_epoch = math.ceil(feats.shape[0] / batch_size)

    # ============ data ============
    loader = NeighbourPairBatches(feats, nbrs, knn, batch_size, cfg.seed)

    # ============ model and loss ============
    student = MultiHeadMLP(feats.shape[1], cfg.clusters, n_heads=cfg.head.n_heads, hidden_dim=cfg.head.hidden_dim,
                           bottleneck_dim=cfg.head.bottleneck_dim, n_layers=cfg.head.n_layers,
                           normalize=cfg.head.normalize, seed=cfg.seed)
    student.set_feature_stats(feats)
    init_info = None
    if cfg.head.init == "spectral" and not resume:  # a resumed run gets its weights from the checkpoint
        from unshuffle.clustering.head_init import spectral_init

        init_info = spectral_init(student, feats, epochs=cfg.head.init_epochs, temperature=cfg.loss.student_temp,
                                  seed=cfg.seed)
    loss_fn = TEMILoss(cfg.head.n_heads, cfg.clusters, beta=cfg.loss.beta, student_temp=cfg.loss.student_temp,
                       prior_momentum=cfg.loss.prior_momentum)
    system = TemiSystem(
        student, loss_fn, epochs=cfg.optim.epochs, steps_per_epoch=steps_per_epoch, lr=cfg.optim.lr * scale,
        min_lr=cfg.optim.min_lr * scale, warmup_epochs=cfg.optim.warmup_epochs, weight_decay=cfg.optim.weight_decay,
        teacher_temp=cfg.loss.teacher_temp, warmup_teacher_temp=cfg.loss.warmup_teacher_temp,
        teacher_temp_warmup_epochs=cfg.loss.teacher_temp_warmup_epochs, teacher_momentum=cfg.optim.teacher_momentum,
        teacher_momentum_end=cfg.optim.teacher_momentum_end,
        freeze_last_layer_epochs=cfg.optim.freeze_last_layer_epochs)

    # ============ checkpoints, logs, trainer ============
    # best.ckpt: the label-free choice, rewritten only when select_loss improves; last.ckpt: rolling, every
    # epoch end, every checkpoint_every_steps steps and every 10 minutes of training; numbered snapshots
    # every checkpoint_every epochs only when asked (0: none)
    best_cb = ModelCheckpoint(dirpath=run.checkpoints, filename="best", monitor="select_loss", mode="min",
                              save_top_k=1, auto_insert_metric_name=False, enable_version_counter=False)
    periodic_cbs = [ModelCheckpoint(dirpath=run.checkpoints, filename="epoch{epoch:04d}", save_top_k=-1,
                                    every_n_epochs=cfg.checkpoint_every, auto_insert_metric_name=False)
                    ] if cfg.checkpoint_every else []
    last_cb = RollingCheckpoint(run.last_checkpoint, every_steps=cfg.checkpoint_every_steps)
    interrupt_cb = InterruptCheckpoint(run.last_checkpoint)
    trainer = L.Trainer(
        max_epochs=cfg.optim.epochs, accelerator=cfg.accelerator, devices=1, precision="32-true",
        logger=TensorBoardLogger(save_dir=run.path, name="tensorboard", version="", default_hp_metric=False),
        callbacks=[best_cb, EpochLog(run), *periodic_cbs, last_cb, interrupt_cb, *(callbacks or [])],
        # best_cb first: it is trainer.checkpoint_callback
        plugins=[AtomicCheckpointIO()], gradient_clip_val=cfg.optim.clip_grad or None,
        gradient_clip_algorithm="norm", enable_progress_bar=progress, enable_model_summary=False,
        log_every_n_steps=max(1, min(50, steps_per_epoch)), num_sanity_val_steps=0, default_root_dir=run.path)
    loader.position = lambda: trainer.global_step  # read when an epoch's iteration starts, after any restore

    # ============ loop ============
    start = time.perf_counter()
    sigint_handler = signal.getsignal(signal.SIGINT)  # Lightning ignores SIGINT after a Ctrl+C
    try:
        with writes_reported(run.path):
            trainer.fit(system, train_dataloaders=loader, ckpt_path=ckpt_path)
    except torch.cuda.OutOfMemoryError as e:
        raise GpuOutOfMemory(
            f"out of accelerator memory with optim.batch_size={batch_size} and head.n_heads={cfg.head.n_heads}; "
            f"rerun with a smaller batch, e.g. --set optim.batch_size={max(2, batch_size // 2)}"
            f"{' optim.min_steps_per_epoch=0' if batch_size < cfg.optim.batch_size else ''} ({e})") from e
    except SystemExit as e:  # Lightning exits after Ctrl+C; SIGTERM arrives as SIGTERMException
        if interrupt_cb.saved is None:
            raise
        raise TrainingInterrupted(f"training stopped by {interrupt_cb.reason}; checkpoint saved to "
                                  f"{interrupt_cb.saved}; continue with --resume") from e
    finally:
        signal.signal(signal.SIGINT, sigint_handler)
    seconds = time.perf_counter() - start

    # ============ clean-up: label-free export ============
    best_path = Path(best_cb.best_model_path or run.last_checkpoint)
    export = export_best(best_path, run.path / "model.pt", cfg, record or {})
    clusters, confidence = export["heads"].assign(feats)
    _save_assignments(run.path / "assignments.npz", clusters, confidence)
    history = run.read_metrics()
    summary = {
        "run": str(run.path), "n_images": int(feats.shape[0]), "feature_dim": int(feats.shape[1]),
        "clusters": cfg.clusters, "knn": knn, "batch_size": batch_size, "steps_per_epoch": steps_per_epoch,
        "best_checkpoint": best_path.name, "best_epoch": export["epoch"],
        "best_head": export["best_head"], "select_loss": export["select_loss"],
        "epochs": int(trainer.current_epoch), "train_seconds": round(seconds, 2),
        "seconds_per_epoch": round(float(np.median([h["seconds"] for h in history])), 3) if history else None,
        "final_loss": history[-1]["loss"] if history else None,
        "occupied_clusters": int(len(np.unique(clusters))),
    }
    if init_info is not None:
        summary["head_init"] = init_info
    if (record or {}).get("recipe") is not None:  # the recipe chosen for this machine and why (recipe.py)
        summary["recipe"] = record["recipe"]
    from unshuffle.runs.atomic import atomic_write_json

    atomic_write_json(run.path / "train_summary.json", summary)
    return summary


def _save_assignments(path: Path, clusters: np.ndarray, confidence: np.ndarray) -> None:
    from unshuffle.runs.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, cluster=clusters.astype(np.int64), confidence=confidence.astype(np.float32))


def load_assignments(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(clusters (N,) int64, confidence (N,) float32) saved by :func:`train_temi`."""
    path = Path(run_dir) / "assignments.npz"
    if not path.is_file():
        raise CheckpointError(f"{path}: no assignments; train the run first")
    with np.load(path, allow_pickle=False) as z:
        return z["cluster"], z["confidence"]


def export_best(ckpt: Path, out: Path, cfg: TemiConfig, record: dict) -> dict:
    """Write the teacher heads of Lightning checkpoint ``ckpt`` as a plain dict to ``out`` (model.pt)."""
    from unshuffle.clustering.predict import TemiHeads
    from unshuffle.runs.checkpoints import load_checkpoint, save_checkpoint

    state = load_checkpoint(ckpt)
    sd = state["state_dict"]
    teacher_sd = {k[len("teacher."):]: v for k, v in sd.items() if k.startswith("teacher.")}
    head_losses = sd["epoch_head_losses"]
    model = {
        "format": MODEL_FORMAT,
        "arch": _arch_from(teacher_sd, cfg),
        "state_dict": teacher_sd,
        "teacher_temp": cfg.loss.teacher_temp,
        "epoch": int(state["epoch"]),
        "best_head": int(teacher_sd["best_head"]),
        "select_loss": float(head_losses[int(teacher_sd["best_head"])]),
        "head_losses": [float(v) for v in head_losses],
        "config": cfg.to_dict(),
        "record": json.loads(json.dumps(record)),
    }
    save_checkpoint(model, out)
    heads = TemiHeads.from_dict(model, source=str(out))
    return {"heads": heads, "epoch": model["epoch"], "best_head": model["best_head"],
            "select_loss": model["select_loss"]}


def _arch_from(teacher_sd: dict, cfg: TemiConfig) -> dict:
    return {"in_dim": int(teacher_sd["w_in"].shape[1]), "n_clusters": cfg.clusters, "n_heads": cfg.head.n_heads,
            "hidden_dim": cfg.head.hidden_dim, "bottleneck_dim": cfg.head.bottleneck_dim,
            "n_layers": cfg.head.n_layers, "normalize": cfg.head.normalize, "train_last_norm": True}
