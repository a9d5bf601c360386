"""TEMI clustering heads: H parallel MLP heads on frozen features, computed as one batched operation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from unshuffle.errors import ConfigError

NORMALIZATIONS = ("standardize", "l2", "none")


class MultiHeadMLP(nn.Module):
    """``n_heads`` independent TEMI heads whose weights are stacked along a leading head axis.

    Each head is ``Linear(D, hidden) -> GELU -> [Linear(hidden, hidden) -> GELU]* -> Linear(hidden,
    bottleneck) -> L2-normalise -> weight-normalised Linear(bottleneck, K, no bias)``, the head
    architecture of the TEMI reference code (``nlayers=2, hidden_dim=512, bottleneck_dim=256`` there).
    All heads run in one ``torch.einsum`` per layer, never in a Python loop over heads.

    Features are normalised before the heads with buffers that travel with the weights:
    ``"standardize"`` uses ``feature_mean``/``feature_std`` (set with :meth:`set_feature_stats` from
    the training features, no labels involved), ``"l2"`` scales each row to unit length, ``"none"``
    leaves them alone. ``best_head`` (a long scalar buffer) is the index chosen label-free by the
    training system; :meth:`best_logits` reads it.

    Attributes:
        w_in: (H, D, hidden), b_in: (H, hidden)   first layer
        w_mid: (H, L-2, hidden, hidden), b_mid: (H, L-2, hidden)   extra hidden layers (may be empty)
        w_out: (H, hidden, bottleneck), b_out: (H, bottleneck)
        last_v: (H, bottleneck, K), last_g: (H, 1, K)   weight-normalised last layer, W = g * v / |v|

    Example:
        >>> heads = MultiHeadMLP(in_dim=1280, n_clusters=200, n_heads=16)
        >>> logits = heads(torch.randn(8, 1280))  # (16, 8, 200)
    """

    def __init__(
        self,
        in_dim: int,
        n_clusters: int,
        n_heads: int = 16,
        hidden_dim: int = 512,
        bottleneck_dim: int = 256,
        n_layers: int = 2,
        normalize: str = "standardize",
        train_last_norm: bool = True,
        seed: int | None = None,
    ):
        super().__init__()
        for name, value, low in (("in_dim", in_dim, 1), ("n_clusters", n_clusters, 2), ("n_heads", n_heads, 1),
                                 ("hidden_dim", hidden_dim, 1), ("bottleneck_dim", bottleneck_dim, 1),
                                 ("n_layers", n_layers, 2)):
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        if normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
        self.in_dim, self.n_clusters, self.n_heads = in_dim, n_clusters, n_heads
        self.hidden_dim, self.bottleneck_dim, self.n_layers = hidden_dim, bottleneck_dim, n_layers
        self.normalize = normalize
        n_mid = n_layers - 2
        self.w_in = nn.Parameter(torch.empty(n_heads, in_dim, hidden_dim))
        self.b_in = nn.Parameter(torch.zeros(n_heads, hidden_dim))
        self.w_mid = nn.Parameter(torch.empty(n_heads, n_mid, hidden_dim, hidden_dim))
        self.b_mid = nn.Parameter(torch.zeros(n_heads, n_mid, hidden_dim))
        self.w_out = nn.Parameter(torch.empty(n_heads, hidden_dim, bottleneck_dim))
        self.b_out = nn.Parameter(torch.zeros(n_heads, bottleneck_dim))
        self.last_v = nn.Parameter(torch.empty(n_heads, bottleneck_dim, n_clusters))
        self.last_g = nn.Parameter(torch.ones(n_heads, 1, n_clusters), requires_grad=train_last_norm)
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_std", torch.ones(in_dim))
        self.register_buffer("best_head", torch.tensor(0, dtype=torch.long))
        self.reset_parameters(seed)

    def arch(self) -> dict:
        """The constructor arguments that define the shapes (plain data, stored in checkpoints)."""
        return {"in_dim": self.in_dim, "n_clusters": self.n_clusters, "n_heads": self.n_heads,
                "hidden_dim": self.hidden_dim, "bottleneck_dim": self.bottleneck_dim,
                "n_layers": self.n_layers, "normalize": self.normalize,
                "train_last_norm": bool(self.last_g.requires_grad)}

    @torch.no_grad()
    def reset_parameters(self, seed: int | None = None) -> None:
        """Truncated-normal (std 0.02) hidden weights, zero biases, uniform last layer, unit gains."""
        gen = None if seed is None else torch.Generator().manual_seed(int(seed))
        for w in (self.w_in, self.w_mid, self.w_out):
            w.copy_(_trunc_normal(w.shape, 0.02, gen))
        for b in (self.b_in, self.b_mid, self.b_out):
            b.zero_()
        bound = 1.0 / math.sqrt(self.bottleneck_dim)  # nn.Linear's default range for this fan-in
        self.last_v.copy_(torch.rand(self.last_v.shape, generator=gen) * 2 * bound - bound)
        self.last_g.fill_(1.0)

    @torch.no_grad()
    def set_feature_stats(self, feats: torch.Tensor) -> None:
        """Store the per-dimension mean and std of ``feats`` (N, D) float32 for standardisation."""
        if feats.ndim != 2 or feats.shape[1] != self.in_dim:
            raise ValueError(f"features must be (N, {self.in_dim}), got {tuple(feats.shape)}")
        self.feature_mean.copy_(feats.mean(0))
        self.feature_std.copy_(feats.std(0).clamp_min(1e-6))

    def normalize_features(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the configured feature normalisation to ``x`` (B, D) float32."""
        if self.normalize == "standardize":
            return (x - self.feature_mean) / self.feature_std
        if self.normalize == "l2":
            return F.normalize(x, dim=-1)
        return x

    def last_weight(self) -> torch.Tensor:
        """The weight-normalised last layer (H, bottleneck, K): unit columns scaled by ``last_g``."""
        return self.last_g * self.last_v / self.last_v.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every head: ``x`` (B, D) float32 -> (H, B, K) float32.

        Einsum letters: h head, b batch item, d input feature, e/f hidden units, k cluster.
        """
        x = self.normalize_features(x)
        z = F.gelu(torch.einsum("bd,hde->hbe", x, self.w_in) + self.b_in[:, None, :])
        for i in range(self.n_layers - 2):
            z = F.gelu(torch.einsum("hbe,hef->hbf", z, self.w_mid[:, i]) + self.b_mid[:, i, None, :])
        z = torch.einsum("hbe,hef->hbf", z, self.w_out) + self.b_out[:, None, :]
        z = F.normalize(z, dim=-1)
        return torch.einsum("hbf,hfk->hbk", z, self.last_weight())

    def best_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the selected head only: ``x`` (B, D) float32 -> (B, K) float32."""
        return self.forward(x)[int(self.best_head)]


def _trunc_normal(shape: torch.Size, std: float, gen: torch.Generator | None) -> torch.Tensor:
    """Normal(0, std) samples truncated to [-2 std, 2 std] by resampling (float32)."""
    out = torch.randn(shape, generator=gen) * std
    bad = out.abs() > 2 * std
    while bad.any():
        out[bad] = torch.randn(int(bad.sum()), generator=gen) * std
        bad = out.abs() > 2 * std
    return out
