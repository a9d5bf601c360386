"""Lightning callbacks every trainer shares: the rolling last.ckpt and the resumable metrics.jsonl log."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from lightning.pytorch.callbacks import Checkpoint

LAST_EVERY_SECONDS = 600.0  # last.ckpt is rewritten after at most this much training time (and every epoch)


class RollingCheckpoint(Checkpoint):
    """Rewrite ``path`` (a run's last.ckpt) at every epoch end, every ``every_steps`` optimiser steps
    (0: off) and after the first step that ends ``every_seconds`` after the previous save.

    Lightning's ``ModelCheckpoint(save_last=True)`` writes last.ckpt only in a step where a top-k or
    periodic checkpoint was also written (lightning 2.6), so a run killed before it finishes may have
    none. This callback writes it unconditionally. It derives from ``Checkpoint`` so Lightning runs
    its epoch-end hook after every other callback's and the module's (the best checkpoint and the
    metrics line are then already in the saved state). Saves go through the trainer, so the file is
    written atomically by the trainer's CheckpointIO, and on every rank (the time decision is rank
    zero's, broadcast, so all processes save at the same step). ``clock``: seconds (tests).
    """

    def __init__(self, path: str | Path, every_seconds: float = LAST_EVERY_SECONDS, every_steps: int = 0,
                 clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.every_seconds = every_seconds
        self.every_steps = every_steps
        self.clock = clock
        self._last_save = clock()
        self._saved_step = -1
        self.saves = 0

    @property
    def state_key(self) -> str:
        return "RollingCheckpoint"

    def on_train_start(self, trainer, pl_module) -> None:
        self._last_save = self.clock()
        self._saved_step = trainer.global_step  # the state just restored (or the start) is on disk already

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        due = bool(trainer.strategy.broadcast(self.clock() - self._last_save >= self.every_seconds))
        if step != self._saved_step and (due or (self.every_steps and step % self.every_steps == 0)):
            self._save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._save(trainer)  # always: the epoch-end state differs from a save after the same step

    def _save(self, trainer) -> None:
        trainer.save_checkpoint(self.path)
        self._saved_step = trainer.global_step
        self._last_save = self.clock()
        self.saves += 1


class MetricsLines(Checkpoint):
    """Base of the metrics.jsonl writers: counts the lines written and keeps the count in every
    checkpoint, so a resumed run first cuts metrics.jsonl back to the lines its checkpoint had seen
    (lines written after the last checkpoint, by a run killed before the next one, would repeat).
    Subclasses call :meth:`append` (rank zero) instead of ``run.append_metrics``."""

    def __init__(self, run):
        self.run = run
        self.lines = 0
        self._restored: int | None = None

    def state_dict(self) -> dict:
        return {"lines": self.lines}

    def load_state_dict(self, state: dict) -> None:
        self._restored = int(state.get("lines", 0))

    def on_train_start(self, trainer, pl_module) -> None:
        if self._restored is None:
            self.lines = len(self.run.read_metrics())
            return
        self.lines, self._restored = self._restored, None
        if trainer.is_global_zero:
            self.run.truncate_metrics(self.lines)

    def append(self, record: dict) -> None:
        self.run.append_metrics(record)
        self.lines += 1
