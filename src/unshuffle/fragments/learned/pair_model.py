"""Learned edge compatibility: a small CNN embeds each fragment edge so that true neighbours match.

The model scores "j sits directly right of i" as the cosine ``u(i) . v(j)`` of two embeddings: ``u``
from a band of ``i``'s rightmost columns (the *out* tower), ``v`` from a band of ``j``'s leftmost
columns mirrored so that its edge is also the band's last column (the *in* tower). The other sides
are the same relation on turned or transposed fragments, as for the hand-made measures. Because the
score is a dot product it factorises like them (``compatibility.py``): the dissimilarity
``1 - u . v`` is ``query[i] . key[j]`` with ``query = [-u, 1]`` and ``key = [v, 1]``, so the chunked
top-k search, the normalisation by the second best and the placer need no change.

Every fragment is resized to ``size`` px before its bands are cut (16 by default: 14 px eroded and 8 px
fragments are interpolated), and a constant input channel tells the model whether a gap of eroded
border pixels separates neighbours (``gap=1``) or they touch (``gap=0``).

Weights are stored as a NumPy ``.npz`` (arrays only, read with ``allow_pickle=False``) holding the
architecture as JSON, so a shipped or downloaded model can never run code when it is loaded.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unshuffle.errors import CheckpointError

FORMAT = "unshuffle-pair-model/1"
DEFAULT_MODEL = "pair_model.npz"  # shipped in unshuffle/assets


def _tower(width: int, dim: int, band: int, size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(4, width, 3, padding=1), nn.GELU(),
        nn.Conv2d(width, width, 3, padding=1), nn.GELU(),
        nn.Conv2d(width, 2 * width, (3, band), padding=(1, 0)), nn.GELU(),  # -> (B, 2w, size, 1)
        nn.Flatten(), nn.Linear(2 * width * size, dim),
    )


class EdgePairModel(nn.Module):
    """Two towers embedding edge bands; ``score(u, v) = u . v`` (both L2-normalised).

    Parameters:
        width: channels of the first convolutions (the last one has twice as many).
        dim: embedding size.
        band: columns of the fragment next to the edge that the towers see.
        size: fragments are resized to size x size before the bands are cut.
    """

    def __init__(self, width: int = 32, dim: int = 96, band: int = 8, size: int = 16):
        super().__init__()
        if not 1 <= band <= size:
            raise ValueError(f"band must be in 1..size ({size}), got {band}")
        self.width, self.dim, self.band, self.size = width, dim, band, size
        self.out_tower = _tower(width, dim, band, size)
        self.in_tower = _tower(width, dim, band, size)
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(20.0))))  # InfoNCE inverse temperature

    def arch(self) -> dict:
        """Constructor arguments (what save/load need to rebuild the model)."""
        return {"width": self.width, "dim": self.dim, "band": self.band, "size": self.size}

    def bands(self, pieces: torch.Tensor, gap: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Right bands and mirrored left bands of pieces (P, 3, s, s) float in [0, 1].

        Returns two (P, 4, size, band) tensors: normalised RGB plus the gap channel.
        """
        x = pieces
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        x = (x - 0.5) / 0.25
        flag = torch.full_like(x[:, :1], float(gap))
        x = torch.cat([x, flag], dim=1)
        return x[..., -self.band:], x[..., :self.band].flip(-1)

    def embed(self, pieces: torch.Tensor, gap: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(u, v): L2-normalised out/in embeddings (P, dim) of each piece's right and left edge."""
        right, left = self.bands(pieces, gap)
        u = F.normalize(self.out_tower(right), dim=1)
        v = F.normalize(self.in_tower(left), dim=1)
        return u, v

    def forward(self, left_pieces: torch.Tensor, right_pieces: torch.Tensor, gap: float) -> torch.Tensor:
        """Logits (B, B) of "right_pieces[b] sits right of left_pieces[a]", scaled for InfoNCE."""
        u = F.normalize(self.out_tower(self.bands(left_pieces, gap)[0]), dim=1)
        v = F.normalize(self.in_tower(self.bands(right_pieces, gap)[1]), dim=1)
        return self.log_scale.exp().clamp(max=100.0) * (u @ v.T)


def to_tensor(fragments: np.ndarray) -> torch.Tensor:
    """(P, s, s, 3) uint8 -> (P, 3, s, s) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(fragments)).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def learned_features(model: EdgePairModel, pieces: np.ndarray, gap: float = 0.0,
                     batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Query/key vectors of the RIGHT relation with ``query[i] . key[j] = 1 - u(i) . v(j)`` (in [0, 2]).

    pieces: (P, s, s, 3) uint8 (for DOWN pass them transposed, as for the hand-made measures).
    Returns query, key: (P, dim + 1) float64.
    """
    model.eval()
    us, vs = [], []
    for start in range(0, pieces.shape[0], batch):
        u, v = model.embed(to_tensor(pieces[start:start + batch]), gap)
        us.append(u)
        vs.append(v)
    u = torch.cat(us).double().numpy()
    v = torch.cat(vs).double().numpy()
    ones = np.ones((u.shape[0], 1))
    return np.concatenate([-u, ones], axis=1), np.concatenate([v, ones], axis=1)


def save_pair_model(model: EdgePairModel, path: str | Path, meta: dict | None = None) -> None:
    """Write weights and architecture as an ``.npz`` of arrays only (atomically)."""
    from unshuffle.runs.weights import save_arrays

    arrays = {f"w:{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    save_arrays(path, arrays, {"format": FORMAT, "arch": model.arch(), "meta": meta or {}})


def load_pair_model(path: str | Path | None = None) -> EdgePairModel:
    """Load a pair model saved by ``save_pair_model`` (``None``: the model shipped with unshuffle).

    Only arrays are read (``allow_pickle=False``); a file that is not such a model raises
    CheckpointError naming it.
    """
    from unshuffle.runs.weights import load_arrays

    if path is None:
        ref = resources.files("unshuffle.assets").joinpath(DEFAULT_MODEL)
        with resources.as_file(ref) as p:
            return load_pair_model(p)
    header, arrays = load_arrays(path, FORMAT, "pair model")
    weights = {k[2:]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("w:")}
    try:
        model = EdgePairModel(**header["arch"])
        model.load_state_dict(weights, strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: pair model weights do not fit its architecture ({e})") from e
    model.meta = header.get("meta", {})
    return model.eval()


def pair_model_from_checkpoint(path: str | Path) -> EdgePairModel:
    """The EdgePairModel of a Lightning checkpoint written by ``pair_training`` (weights-only load)."""
    from unshuffle.runs.checkpoints import load_checkpoint

    ckpt = load_checkpoint(path)
    try:
        arch = ckpt["config"]["model"]
        state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        model = EdgePairModel(**arch)
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a pair-model checkpoint ({type(e).__name__}: {e})") from e
    return model.eval()
