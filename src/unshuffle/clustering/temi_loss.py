"""TEMI loss: pure PMI and weighting formulas plus the module holding the per-head cluster prior p(k).

Formulas (Adaloglou et al., "Exploring the Limits of Deep Image Clustering using Pretrained Models",
BMVC 2023, eq. for the weighted beta-PMI; facts checked against HHU-MMBS/TEMI-official-BMVC2023,
``losses/loss_utils.py`` and ``losses/multihead_losses.py``):

    pmi_beta(q_s, q_t; p)  = log sum_k (q_s[k] * q_t[k]) ** beta / p[k]
    w(x, x')               = 1/H sum_h sum_k q_t^h(k|x) q_t^h(k|x')          (no gradient)
    L_h(x, x')             = -w(x, x') * 1/2 [pmi_beta(q_s^h(x), q_t^h(x')) + pmi_beta(q_s^h(x'), q_t^h(x))]
    loss                   = mean over heads and batch of L_h

where ``q_s = softmax(student / tau_s)``, ``q_t = softmax(teacher / tau_t)`` and ``p`` is the head's
cluster prior, an EMA of the teacher probabilities (momentum 0.9), updated with the current batch
before the loss is computed, as the reference code does.

Closed forms with a uniform prior p = 1/K (derived in tests/test_temi_loss.py):
    agreeing one-hot predictions:  pmi = log K, w = 1,      loss = -log K
    all-uniform predictions:       pmi = (2 - 2 beta) log K, w = 1/K, loss = -(2 - 2 beta) log(K) / K
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from unshuffle.errors import ConfigError


def sim_weight(p1: torch.Tensor, p2: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """Agreement of two distributions: ``sum_k (p1 * p2) ** gamma``; (..., K) x (..., K) -> (...)."""
    return (p1 * p2).pow(gamma).sum(dim=-1)


def beta_pmi(p_student: torch.Tensor, p_teacher: torch.Tensor, prior: torch.Tensor, beta: float) -> torch.Tensor:
    """Beta-weighted pointwise mutual information ``log sum_k (q_s q_t)^beta / p(k)``.

    Args:
        p_student: (..., K) probabilities, p_teacher: (..., K) probabilities, prior: (K,) or
            broadcastable to (..., K), positive.
    Returns:
        (...) float tensor; higher means the pair agrees on a cluster that is rare under the prior.
    """
    return ((p_student * p_teacher).pow(beta) / prior).sum(dim=-1).log()


def teacher_temperature(epoch: int, start: float, end: float, warmup_epochs: int) -> float:
    """Teacher temperature at ``epoch``: ``start`` at epoch 0, linear to ``end`` at epoch
    ``warmup_epochs``, then ``end`` for every later epoch, however far past the planned length."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if epoch >= warmup_epochs:
        return float(end)
    return float(start + (end - start) * epoch / warmup_epochs)


class TEMILoss(nn.Module):
    """Multi-head TEMI loss with the per-head cluster prior as a buffer.

    Attributes:
        prior: (H, K) float32 buffer, p(k) per head, starts uniform; an EMA of the batch-mean teacher
            probabilities, updated in :meth:`update_prior` (no autograd) while in training mode.
        beta, student_temp, prior_momentum: as given.

    Example:
        >>> loss_fn = TEMILoss(n_heads=16, n_clusters=200)
        >>> per_head = loss_fn([s_x, s_nn], [t_x, t_nn], teacher_temp=0.1)  # each (16, B, 200) -> (16,)
        >>> per_head.mean().backward()
    """

    def __init__(self, n_heads: int, n_clusters: int, beta: float = 0.6, student_temp: float = 0.1,
                 prior_momentum: float = 0.9):
        super().__init__()
        if not isinstance(n_heads, int) or n_heads < 1:
            raise ConfigError(f"n_heads must be an integer >= 1, got {n_heads!r}")
        if not isinstance(n_clusters, int) or n_clusters < 2:
            raise ConfigError(f"n_clusters must be an integer >= 2, got {n_clusters!r}")
        if not 0.0 < beta <= 1.0:
            raise ConfigError(f"beta must be in (0, 1], got {beta!r}")
        if not student_temp > 1e-4:
            raise ConfigError(f"student_temp must be > 1e-4, got {student_temp!r}")
        if not 0.0 <= prior_momentum <= 1.0:
            raise ConfigError(f"prior_momentum must be in [0, 1], got {prior_momentum!r}")
        self.n_heads, self.n_clusters = n_heads, n_clusters
        self.beta, self.student_temp, self.prior_momentum = float(beta), float(student_temp), float(prior_momentum)
        self.register_buffer("prior", torch.full((n_heads, n_clusters), 1.0 / n_clusters))

    @torch.no_grad()
    def update_prior(self, teacher_probs: list[torch.Tensor]) -> None:
        """EMA step of ``prior`` towards the mean teacher probability of this batch.

        Args:
            teacher_probs: list over views of (H, B, K) probabilities; all views are pooled.
        """
        batch_mean = torch.cat(teacher_probs, dim=1).mean(dim=1)  # (H, K)
        self.prior.mul_(self.prior_momentum).add_((1.0 - self.prior_momentum) * batch_mean)

    @staticmethod
    def pair_weight(teacher_probs: list[torch.Tensor]) -> torch.Tensor:
        """Instance weight per pair, averaged over heads and view pairs: list of (H, B, K) -> (B,)."""
        total, count = 0.0, 0
        for a in range(len(teacher_probs)):
            for b in range(a + 1, len(teacher_probs)):
                total = total + sim_weight(teacher_probs[a], teacher_probs[b]).mean(dim=0)
                count += 1
        return total / count

    def forward(self, student_logits: list[torch.Tensor], teacher_logits: list[torch.Tensor],
                teacher_temp: float) -> torch.Tensor:
        """Per-head TEMI loss.

        Args:
            student_logits: list over views (image, neighbour, ...) of (H, B, K) float logits.
            teacher_logits: the teacher's logits for the same views, same shapes; no gradient flows.
            teacher_temp: temperature of the teacher softmax (from :func:`teacher_temperature`).
        Returns:
            (H,) float32 loss per head; average it for the training objective, compare it across
            heads for label-free head selection.
        """
        if len(student_logits) != len(teacher_logits) or len(student_logits) < 2:
            raise ValueError(f"need the same number (>= 2) of student and teacher views, got "
                             f"{len(student_logits)} and {len(teacher_logits)}")
        if teacher_temp <= 0 or not math.isfinite(teacher_temp):
            raise ValueError(f"teacher_temp must be a positive number, got {teacher_temp!r}")
        with torch.no_grad():
            t_probs = [F.softmax(t.detach().float() / teacher_temp, dim=-1) for t in teacher_logits]
            if self.training:
                self.update_prior(t_probs)
            weight = self.pair_weight(t_probs)  # (B,)
            prior = self.prior[:, None, :]  # (H, 1, K)
        s_probs = [F.softmax(s.float() / self.student_temp, dim=-1) for s in student_logits]
        total, count = 0.0, 0
        for w in range(len(t_probs)):
            for v in range(len(s_probs)):
                if v == w:  # a view never teaches itself: only image <-> neighbour terms
                    continue
                pmi = beta_pmi(s_probs[v], t_probs[w], prior, self.beta)  # (H, B)
                total = total + (-(weight[None, :] * pmi)).mean(dim=1)
                count += 1
        return total / count
