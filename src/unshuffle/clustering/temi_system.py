"""LightningModule training TEMI heads: student, EMA teacher, loss, schedules, label-free head choice."""

from __future__ import annotations

import copy
import math

import lightning as L
import torch

from unshuffle.clustering.heads import MultiHeadMLP
from unshuffle.clustering.temi_loss import TEMILoss, teacher_temperature
from unshuffle.errors import CheckpointError, UnshuffleError


class NonFiniteLossError(UnshuffleError):
    """The training loss became NaN or infinite; training stopped at that step."""


def cosine_schedule(step: int, total_steps: int, warmup_steps: int, peak: float, final: float,
                    start: float = 0.0) -> float:
    """Value at ``step``: linear ``start -> peak`` over ``warmup_steps``, then cosine ``peak -> final``
    until ``total_steps``; ``final`` for any later step. A pure function of the step, so a resumed
    run continues on the same curve."""
    if step < warmup_steps:
        return start + (peak - start) * step / warmup_steps
    if step >= total_steps:
        return final
    span = max(total_steps - warmup_steps, 1)
    progress = (step - warmup_steps) / span
    return final + 0.5 * (peak - final) * (1.0 + math.cos(math.pi * progress))


class TemiSystem(L.LightningModule):
    """Trains a :class:`MultiHeadMLP` student with the TEMI loss against its EMA teacher.

    A batch is ``(x, x_nn)``: features of images and of one of their nearest neighbours, both
    (B, D) float32. Labels never enter. At the end of every epoch after the teacher-temperature
    warm-up the head with the lowest mean loss becomes ``best_head`` of both student and teacher,
    and ``select_loss`` (that head's loss) is logged for the label-free best checkpoint; before
    then ``select_loss`` is +inf so no warm-up epoch can be chosen.

    Attributes:
        student, teacher: MultiHeadMLP; the teacher gets no gradients.
        loss_fn: TEMILoss (holds the p(k) buffer).
        epoch_head_losses: (H,) mean per-head loss of the last finished epoch.
    """

    def __init__(
        self,
        student: MultiHeadMLP,
        loss_fn: TEMILoss,
        *,
        epochs: int,
        steps_per_epoch: int,
        lr: float,
        min_lr: float,
        warmup_epochs: int,
        weight_decay: float,
        teacher_temp: float,
        warmup_teacher_temp: float,
        teacher_temp_warmup_epochs: int,
        teacher_momentum: float,
        teacher_momentum_end: float,
        freeze_last_layer_epochs: int,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["student", "loss_fn"])
        self.student = student
        self.teacher = copy.deepcopy(student)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.loss_fn = loss_fn
        self.register_buffer("epoch_head_losses", torch.full((student.n_heads,), float("nan")))
        self._sum = torch.zeros(student.n_heads)
        self._count = 0

    # ---- inference -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher logits of the selected head: ``x`` (B, D) float32 -> (B, K)."""
        return self.teacher.best_logits(x)

    # ---- schedules (pure functions of step / epoch) ----------------------------------------
    def lr_at(self, step: int) -> float:
        hp = self.hparams
        total = hp.epochs * hp.steps_per_epoch
        return cosine_schedule(step, total, hp.warmup_epochs * hp.steps_per_epoch, hp.lr, hp.min_lr)

    def momentum_at(self, step: int) -> float:
        hp = self.hparams
        total = hp.epochs * hp.steps_per_epoch
        return cosine_schedule(step, total, 0, hp.teacher_momentum, hp.teacher_momentum_end)

    def teacher_temp_at(self, epoch: int) -> float:
        hp = self.hparams
        return teacher_temperature(epoch, hp.warmup_teacher_temp, hp.teacher_temp, hp.teacher_temp_warmup_epochs)

    # ---- training ----------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._sum = torch.zeros(self.student.n_heads, device=self.device)
        self._count = 0

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        lr = self.lr_at(self.global_step)
        for group in self.optimizers().optimizer.param_groups:
            group["lr"] = lr

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, x_nn = batch
        n = x.shape[0]
        both = torch.cat([x, x_nn])  # one pass per network for both views
        s = self.student(both)
        with torch.no_grad():
            t = self.teacher(both)
        temp = self.teacher_temp_at(self.current_epoch)
        head_losses = self.loss_fn([s[:, :n], s[:, n:]], [t[:, :n], t[:, n:]], teacher_temp=temp)
        loss = head_losses.mean()
        value = float(loss.detach())  # host sync: needed to stop at once on a non-finite loss
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"loss is {value} at epoch {self.current_epoch}, step {self.global_step}; training stopped "
                f"(try a smaller optim.lr or a larger loss.student_temp)")
        self._sum += head_losses.detach()
        self._count += 1
        self.log("train/loss", loss.detach(), on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/lr", self.lr_at(self.global_step), on_step=True, on_epoch=False)
        return loss

    def on_after_backward(self) -> None:
        if self.current_epoch < self.hparams.freeze_last_layer_epochs:
            for p in (self.student.last_v, self.student.last_g):
                p.grad = None

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        # The teacher's EMA update belongs to the optimiser step, not to on_train_batch_end: callbacks'
        # on_train_batch_end (a step checkpoint) runs before the module's, and would save a teacher one
        # update behind. global_step counts this step only once the hook returns, hence the + 1.
        m = self.momentum_at(self.global_step + 1)
        with torch.no_grad():
            for p_t, p_s in zip(self.teacher.parameters(), self.student.parameters(), strict=True):
                p_t.mul_(m).add_(p_s.detach(), alpha=1.0 - m)

    def on_train_epoch_end(self) -> None:
        means = self._sum / max(self._count, 1)
        self.epoch_head_losses.copy_(means)
        eligible = self.current_epoch >= self.hparams.teacher_temp_warmup_epochs
        if eligible:
            best = int(torch.argmin(means))
            self.student.best_head.fill_(best)
            self.teacher.best_head.fill_(best)
            select = float(means[best])
        else:
            select = float("inf")
        self.log("select_loss", select, on_epoch=True)
        self.log("train/loss_epoch", float(means.mean()), on_epoch=True)
        self.log("teacher_temp", self.teacher_temp_at(self.current_epoch), on_epoch=True)

    # ---- checkpoints ---------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # the running per-head loss sums of the current epoch, so a mid-epoch restore ends the epoch
        # with the same head losses, head choice and select_loss as an uninterrupted run
        checkpoint["temi_epoch_sums"] = {"sum": self._sum.detach().cpu().clone(), "count": self._count}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        sums = checkpoint.get("temi_epoch_sums")
        if sums is None:
            if checkpoint["global_step"] % self.hparams.steps_per_epoch:
                raise CheckpointError(
                    f"mid-epoch checkpoint (step {checkpoint['global_step']}) without 'temi_epoch_sums' (written "
                    f"by an older version); resume from an end-of-epoch checkpoint instead")
            return  # an end-of-epoch checkpoint: the next epoch starts with fresh sums
        self._sum = sums["sum"].to(self.device)
        self._count = int(sums["count"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        decay = [p for n, p in self.student.named_parameters() if p.requires_grad and not n.startswith("b_")]
        no_decay = [p for n, p in self.student.named_parameters() if p.requires_grad and n.startswith("b_")]
        return torch.optim.AdamW([{"params": decay, "weight_decay": self.hparams.weight_decay},
                                  {"params": no_decay, "weight_decay": 0.0}], lr=self.hparams.lr)
