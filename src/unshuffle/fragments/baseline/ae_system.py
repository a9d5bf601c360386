"""LightningModule training the fragment autoencoder with MSE reconstruction."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F

from unshuffle.fragments.baseline.autoencoder import FragmentAutoencoder
from unshuffle.runs.checkpoints import RunStateHooks


class AutoencoderSystem(RunStateHooks, L.LightningModule):
    """Trains ``model`` to reconstruct fragments; logs ``train_loss`` and ``val_loss`` (MSE).

    Checkpoints carry, besides Lightning's weights/optimiser/counters, the resolved ``config`` (with
    the architecture under ``config["model"]``) and the RNG states.
    """

    def __init__(self, model: FragmentAutoencoder, config: dict, lr: float = 1e-3,
                 weight_decay: float = 0.0, record_dir: str | None = None):
        super().__init__()
        self.model = model
        self.config = config
        self.lr = lr
        self.weight_decay = weight_decay
        self.record_dir = record_dir
        self._drawn: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, s, s) -> (B, embedding_dim) codes."""
        return self.model.encode(x)

    def _step(self, batch: dict) -> torch.Tensor:
        x = batch["fragments"].flatten(0, 1)  # (B, M, 3, s, s) -> (B*M, 3, s, s)
        return F.mse_loss(self.model(x), x)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._step(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at step {self.global_step}")
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True)
        if self.record_dir is not None:
            self._drawn.extend(int(i) for i in batch["index"])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.log("val_loss", self._step(batch), on_epoch=True, prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def on_train_end(self) -> None:
        if self.record_dir is not None:
            out = Path(self.record_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"rank{self.global_rank}.json").write_text(json.dumps(sorted(self._drawn)))
