"""The TEMI recipe that fits the machine: chosen from the image count and the device, with the reason.

``cluster all`` / ``cluster train`` without ``--preset`` use preset ``auto``: :func:`choose_recipe`
reads the image count N, the cluster count K and whether an accelerator is present (never labels)
and returns settings on top of a preset plus a sentence saying why; the CLI prints it and the run
records it (config.json, train_summary.json).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from unshuffle.errors import ConfigError

AUTO = "auto"


@dataclass(frozen=True)
class Recipe:
    """A named choice of settings: ``preset`` plus dotted ``overrides``, and ``reason`` (one paragraph)."""

    name: str
    preset: str
    overrides: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    n_images: int = 0
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)


def detect_device(accelerator: str = "auto") -> str:
    """``"gpu"`` when ``accelerator`` is gpu, or auto and CUDA is available; else ``"cpu"``."""
    if accelerator not in ("auto", "cpu", "gpu"):
        raise ConfigError(f"accelerator must be one of auto, cpu, gpu, got {accelerator!r}")
    if accelerator == "auto":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return accelerator


def choose_recipe(n_images: int, clusters: int, device: str) -> Recipe:
    """The recipe for ``n_images`` images, ``clusters`` clusters on ``device`` (cpu | gpu); see module doc."""
    if n_images < 2 or clusters < 2 or device not in ("cpu", "gpu"):
        raise ConfigError(f"choose_recipe needs n_images >= 2, clusters >= 2 and device cpu or gpu, got "
                          f"{n_images}, {clusters}, {device!r}")
    if device == "gpu":
        return Recipe("reference", "default", {}, "an accelerator is present: the reference recipe (16 heads of "
                      "width 512, 100 epochs; batch from the image count)", n_images, device)
    return Recipe("cpu", "cpu", {}, f"no accelerator: the cpu preset ({math.ceil(n_images / 64)} steps per epoch)",
                  n_images, device)
