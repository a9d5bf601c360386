"""Self-supervised training of the upright model (RotNet): predict which of 4 quarter turns was applied.

A plain torch loop (no Lightning: a CPU run takes under half an hour): random crops of unlabeled images
(random area and aspect ratio, squeezed to ``size`` px by area averaging, as at solve time), random
horizontal flips and grey empty cells (as in a partly assembled group), each shown in its 4 turns.
Writes ``config.json`` and ``metrics.jsonl`` in the run folder and, with ``export``, the NumPy model
(``upright_model.py``) with batch norm folded into the convolutions.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unshuffle.errors import ConfigError
from unshuffle.fragments.bags.solution import EMPTY_GREY
from unshuffle.fragments.learned.upright_model import MEAN, STD, UprightModel, resize_matrix, save_upright_model


@dataclass(frozen=True)
class UprightTrainConfig:
    """Settings of one upright-model training run."""

    train_dir: str
    output_dir: str
    max_images: int = 0             # use at most this many images (seeded choice; 0 = all)
    image_size: int = 64            # images are centre-cropped and resized to this on read
    val_fraction: float = 0.05      # held aside to report the turn accuracy (no choice is made on it)
    size: int = 32                  # model input side
    channels: tuple = (16, 32, 64, 64)
    strides: tuple = (2, 2, 2, 1)
    steps: int = 1000
    batch: int = 128                # images per step (each shown in 4 turns)
    lr: float = 3e-3
    weight_decay: float = 1e-4
    min_crop: float = 0.6           # smallest crop area as a share of the image
    hole_prob: float = 0.3          # share of crops that get 1-4 grey cells of a 4x4 grid
    threads: int = 2
    seed: int = 0
    export: str | None = None

    def validate(self) -> UprightTrainConfig:
        """Raise ConfigError naming the first bad field and its valid range."""
        for name in ("steps", "batch", "size", "image_size", "threads"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if len(self.channels) != len(self.strides) or not self.channels:
            raise ConfigError(f"channels and strides need one entry per conv, got {self.channels} and {self.strides}")
        if self.size % int(np.prod(self.strides)):
            raise ConfigError(f"size {self.size} must be a multiple of the strides' product {np.prod(self.strides)}")
        if not 0.0 < self.min_crop <= 1.0:
            raise ConfigError(f"min_crop must be in (0, 1], got {self.min_crop}")
        if not 0.0 <= self.hole_prob <= 1.0:
            raise ConfigError(f"hole_prob must be in [0, 1], got {self.hole_prob}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        return self


class UprightNet(nn.Module):
    """Conv3x3 + batch norm + ReLU per stage, then a linear layer on the flattened map to 4 turn classes."""

    def __init__(self, size: int = 32, channels=(16, 32, 64, 64), strides=(2, 2, 2, 1)):
        super().__init__()
        layers, c_in = [], 3
        for c_out, s in zip(channels, strides, strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=s, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        side = size // int(np.prod(strides))
        self.size, self.strides = size, tuple(int(s) for s in strides)
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * side * side, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, size, size, 3) float, normalised RGB (channels last, as the NumPy model) -> (B, 4) logits."""
        return self.head(self.features(x.permute(0, 3, 1, 2)).flatten(1))


def export_numpy(net: UprightNet, meta: dict | None = None) -> UprightModel:
    """The NumPy model of ``net`` in eval mode, each batch norm folded into its convolution."""
    convs, mods = [], list(net.features)
    with torch.no_grad():
        for k in range(0, len(mods), 3):
            conv, bn = mods[k], mods[k + 1]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            w = conv.weight * scale[:, None, None, None]
            b = (conv.bias - bn.running_mean) * scale + bn.bias
            convs.append((w.numpy().astype(np.float32), b.numpy().astype(np.float32), int(conv.stride[0])))
        head = (net.head.weight.numpy().astype(np.float32), net.head.bias.numpy().astype(np.float32))
    return UprightModel(convs, head, net.size, dict(meta or {}))


def crops(images: np.ndarray, cfg: UprightTrainConfig, rng: np.random.Generator) -> torch.Tensor:
    """A batch of augmented crops (B, size, size, 3) float32 normalised. images: (B, S, S, 3) uint8.

    One crop shape per batch (random area in [min_crop, 1], aspect in [3/4, 4/3]), one position and
    flip per image; a ``hole_prob`` share gets 1-4 grey cells of a 4x4 grid.
    """
    b, s = images.shape[:2]
    area = rng.uniform(cfg.min_crop, 1.0) * s * s
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    h = int(np.clip(round(np.sqrt(area / aspect)), 8, s))
    w = int(np.clip(round(np.sqrt(area * aspect)), 8, s))
    top, left = rng.integers(0, s - h + 1, b), rng.integers(0, s - w + 1, b)
    patch = images[np.arange(b)[:, None, None], top[:, None, None] + np.arange(h)[None, :, None],
                   left[:, None, None] + np.arange(w)[None, None, :]]
    flip = rng.random(b) < 0.5
    patch[flip] = patch[flip, :, ::-1]
    x = torch.from_numpy(patch).float()
    rows = torch.from_numpy(resize_matrix(h, cfg.size)).float()
    cols = torch.from_numpy(resize_matrix(w, cfg.size)).float()
    x = torch.einsum("oh,bhwc,pw->bopc", rows, x, cols)
    cell = cfg.size // 4
    for i in np.flatnonzero(rng.random(b) < cfg.hole_prob):
        for c in rng.choice(16, rng.integers(1, 5), replace=False):
            r0, c0 = divmod(int(c), 4)
            x[i, r0 * cell:(r0 + 1) * cell, c0 * cell:(c0 + 1) * cell] = float(EMPTY_GREY)
    return (x / 255.0 - MEAN) / STD


def four_turns(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, S, S, 3) -> (4B, S, S, 3) holding np.rot90(x, r) for r = 0..3, and the (4B,) classes r."""
    turned = torch.cat([torch.rot90(x, r, dims=(1, 2)) for r in range(4)])
    return turned, torch.arange(4).repeat_interleave(x.shape[0])


def _load_images(cfg: UprightTrainConfig) -> np.ndarray:
    from unshuffle.data import open_images

    ds = open_images(cfg.train_dir).with_size(cfg.image_size)
    idx = np.arange(len(ds))
    if cfg.max_images and cfg.max_images < len(ds):
        idx = np.sort(np.random.default_rng(cfg.seed).choice(len(ds), cfg.max_images, replace=False))
    return ds.images(idx)


def train_upright_model(cfg: UprightTrainConfig, images: np.ndarray | None = None) -> dict:
    """Train, write the run folder (and the export); returns the final metrics.

    images: (N, S, S, 3) uint8 to use instead of reading ``cfg.train_dir`` (tests).
    """
    # ---------------------------------------------------------------- config and data
    cfg.validate()
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    images = _load_images(cfg) if images is None else images
    order = rng.permutation(len(images))
    n_val = max(1, int(round(cfg.val_fraction * len(images))))
    val, train = images[order[:n_val]], images[order[n_val:]]
    # ---------------------------------------------------------------- model and optimiser
    net = UprightNet(cfg.size, cfg.channels, cfg.strides)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    # ---------------------------------------------------------------- loop
    t0, log = time.time(), []
    with open(out / "metrics.jsonl", "w") as fh:
        for step in range(1, cfg.steps + 1):
            net.train()
            x, y = four_turns(crops(train[rng.integers(0, len(train), cfg.batch)], cfg, rng))
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            log.append(float(loss.detach()))
            if step % 100 == 0 or step == cfg.steps:
                row = {"step": step, "loss": float(np.mean(log)), "seconds": time.time() - t0}
                if step % 500 == 0 or step == cfg.steps:
                    row["val_turn_accuracy"] = val_accuracy(net, val, cfg.size)
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                log = []
    result = {"steps": cfg.steps, "seconds": time.time() - t0, "val_turn_accuracy": val_accuracy(net, val, cfg.size),
              "train_images": int(len(train)), "val_images": int(len(val))}
    if cfg.export:
        model = export_numpy(net.eval(), {"config": dataclasses.asdict(cfg), **result})
        save_upright_model(model, cfg.export)
        result["export"] = str(cfg.export)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


@torch.no_grad()
def val_accuracy(net: UprightNet, images: np.ndarray, size: int) -> float:
    """Share of whole held-out images (each in 4 turns, squeezed to ``size``) whose turn class is predicted."""
    net.eval()
    rows, cols = (torch.from_numpy(resize_matrix(s, size)).float() for s in images.shape[1:3])
    x = torch.einsum("oh,bhwc,pw->bopc", rows, torch.from_numpy(images).float(), cols)
    x, y = four_turns((x / 255.0 - MEAN) / STD)
    return float((net(x).argmax(1) == y).float().mean())
