"""Lightning callbacks of TEMI training: one metrics.jsonl line per epoch, checkpoint on Ctrl+C/SIGTERM."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from unshuffle.runs.layout import RunDir
from unshuffle.runs.rolling import MetricsLines


class EpochLog(MetricsLines):
    """Appends one JSON line per epoch to the run's metrics.jsonl.

    It derives from ``Checkpoint`` (through MetricsLines, which keeps the line count in checkpoints)
    so that Lightning calls its ``on_train_epoch_end`` after the LightningModule's, when the epoch's
    head losses are known.
    """

    def __init__(self, run: RunDir):
        super().__init__(run)
        self._start = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        losses = pl_module.epoch_head_losses.detach().cpu()
        best = int(pl_module.teacher.best_head)
        prior = pl_module.loss_fn.prior[best].detach().cpu()
        entropy = float(-(prior * prior.clamp_min(1e-12).log()).sum())
        select = trainer.callback_metrics.get("select_loss")
        record = {
            "epoch": int(trainer.current_epoch),
            "step": int(trainer.global_step),
            "loss": float(losses.mean()),
            "head_losses": [round(float(v), 6) for v in losses],
            "best_head": best,
            "select_loss": None if select is None or not torch.isfinite(select) else float(select),
            "lr": pl_module.lr_at(max(trainer.global_step - 1, 0)),
            "teacher_temp": pl_module.teacher_temp_at(trainer.current_epoch),
            "teacher_momentum": pl_module.momentum_at(max(trainer.global_step - 1, 0)),
            "prior_entropy": entropy,
            "prior_max": float(prior.max()),
            "seconds": round(time.perf_counter() - self._start, 4),
        }
        self.append(record)
        if trainer.logger is not None:
            trainer.logger.experiment.add_scalars(
                "train/head_loss", {f"head{i}": float(v) for i, v in enumerate(losses)}, trainer.current_epoch)
            trainer.logger.experiment.add_histogram("train/prior_best_head", prior, trainer.current_epoch)


class InterruptCheckpoint(L.Callback):
    """On Ctrl+C (KeyboardInterrupt) or SIGTERM, save a full checkpoint to ``path`` before exiting."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.saved: Path | None = None
        self.reason = ""

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self.reason = "Ctrl+C"
        elif isinstance(exception, SIGTERMException):
            self.reason = "SIGTERM"
        else:
            return
        trainer.save_checkpoint(self.path)
        self.saved = self.path
