"""The case study's baseline: a small conv autoencoder on fragments, grouped by KMeans on its codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import nn

from unshuffle.errors import CheckpointError, ConfigError


class FragmentAutoencoder(nn.Module):
    """Conv encoder -> ``embedding_dim`` code -> conv decoder, for square fragments.

    Input and output: (B, 3, s, s) float32 in [0, 1]; ``s`` must be divisible by 4.
    ``encode`` returns the (B, embedding_dim) code used for grouping.
    """

    def __init__(self, fragment_size: int = 16, embedding_dim: int = 64, width: int = 32):
        super().__init__()
        if fragment_size < 4 or fragment_size % 4:
            raise ConfigError(f"fragment_size must be a multiple of 4 (>= 4), got {fragment_size}")
        if embedding_dim < 1 or width < 1:
            raise ConfigError(f"embedding_dim and width must be >= 1, got {embedding_dim}, {width}")
        self.fragment_size = fragment_size
        self.embedding_dim = embedding_dim
        self.width = width
        q = fragment_size // 4
        self._code_shape = (2 * width, q, q)
        self.encoder = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * width * q * q, embedding_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(embedding_dim, 2 * width * q * q), nn.ReLU(),
            nn.Unflatten(1, self._code_shape),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 3, 3, padding=1), nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, s, s) float in [0, 1] -> (B, embedding_dim) codes."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, s, s) -> reconstruction (B, 3, s, s)."""
        return self.decoder(self.encoder(x))

    def arch(self) -> dict:
        """Constructor arguments, stored in checkpoints so a load rebuilds the same shape."""
        return {"fragment_size": self.fragment_size, "embedding_dim": self.embedding_dim, "width": self.width}


def fragments_to_tensor(fragments: np.ndarray) -> torch.Tensor:
    """(M, s, s, 3) uint8 -> (M, 3, s, s) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(fragments)).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def embed_fragments(model: FragmentAutoencoder, fragments: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Encoder codes of fragments (M, s, s, 3) uint8 -> (M, embedding_dim) float32."""
    if fragments.ndim != 4 or fragments.shape[1] != model.fragment_size:
        raise ConfigError(
            f"fragments of shape {fragments.shape} do not fit a model trained on "
            f"{model.fragment_size} px fragments"
        )
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = fragments_to_tensor(fragments)
    out = [model.encode(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy()


def group_with_autoencoder(model: FragmentAutoencoder, fragments: np.ndarray, n_clusters: int,
                           seed: int = 0) -> np.ndarray:
    """The case study's grouping: KMeans (k = n_clusters) on encoder codes. Returns (M,) int64."""
    codes = embed_fragments(model, fragments)
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    return km.fit_predict(codes).astype(np.int64)


def load_autoencoder(path: str | Path) -> FragmentAutoencoder:
    """Rebuild the autoencoder from a training checkpoint (weights only; no code in the file runs).

    Accepts the Lightning checkpoints written by ``unshuffle fragments train`` (state dict under
    ``model.``, architecture under ``config["model"]``).
    """
    from unshuffle.runs.checkpoints import load_checkpoint

    ckpt = load_checkpoint(path)
    config, weights = ckpt.get("config"), ckpt.get("state_dict")
    arch = config.get("model") if isinstance(config, dict) else None
    if not isinstance(arch, dict) or not isinstance(weights, dict):
        raise CheckpointError(f"{path}: not a fragment-autoencoder checkpoint (no config['model'] "
                              f"architecture or no state_dict)")
    allowed = {"fragment_size", "embedding_dim", "width"}
    if set(arch) - allowed or not all(isinstance(v, int) and not isinstance(v, bool) for v in arch.values()):
        raise CheckpointError(f"{path}: bad architecture record {arch!r}; expected integer {sorted(allowed)}")
    state = {k.removeprefix("model."): v for k, v in weights.items() if isinstance(k, str) and k.startswith("model.")}
    try:
        model = FragmentAutoencoder(**arch)
    except ConfigError as e:
        raise CheckpointError(f"{path}: bad architecture record ({e})") from e
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match the recorded architecture ({e})") from e
    return model.eval()
