"""The TEMI recipe that fits the machine: chosen from the image count and the device, with the reason.

``cluster all`` / ``cluster train`` without ``--preset`` use preset ``auto``: :func:`choose_recipe`
reads the image count N, the cluster count K and whether an accelerator is present (never labels)
and returns settings on top of a named preset plus the reason; the CLI prints it and the run
records it (config.json, train_summary.json). A ``--config`` file and ``--set`` overrides still
apply on top, and the record lists the recipe settings they replaced.

With an accelerator: the reference recipe (preset ``default``). Without one (CPU):
the ``cpu`` preset's heads (4 heads of width 256, batch 64), and

- N <= ``SPECTRAL_INIT_MAX_N``: the heads start from the spectral partition of the kNN graph
  (``head.init=spectral``, :mod:`unshuffle.clustering.head_init`) and TEMI trains ``SMALL_EPOCHS``
  epochs. On 1,000-image train-split subsets (CIFAR-10 train, Tiny-ImageNet train, 20 classes)
  TEMI from random heads ended below k-means (by 0.9 and 3.8 points on average) and its training
  loss stayed far above that of TEMI started from the spectral partition, which kept the spectral
  accuracy (2.9 and 7.7 points higher). With the shared-neighbour graph and QR labels of
  :mod:`unshuffle.clustering.spectral`, on the whole train subsets (seed 0): CIFAR-10 train 5,000
  images 50.6 from the spectral start vs 50.7 from random heads (60 epochs), Tiny-ImageNet train
  10,000 images (K = 200) 37.9 vs 35.3, in 150 s instead of 340 s (results/clustering.md). The bound
  only keeps the spectral step's cost in check (measured up to 10,000 images: 2-20 s).
- larger N: random heads, ``cpu`` preset epochs (60), fewer when that would pass ``MAX_STEPS``
  optimiser steps (about 10 minutes of one core at the cpu preset's step cost).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unshuffle.errors import ConfigError

AUTO = "auto"
CPU_BATCH = 64  # the cpu preset's batch
SPECTRAL_INIT_MAX_N = 50_000  # warm start - random heads (train splits, seed 0): CIFAR-10 train +2.9 at 1,000
# (mean of 3 subsets), -0.1 at 5,000; Tiny train +7.7 at 1,000 (20 classes), +2.6 at 10,000 (200 classes)
INIT_EPOCHS = 30  # passes of the cross-entropy fit to the spectral partition (batch 256)
SMALL_EPOCHS = 20  # TEMI epochs after the warm start
CPU_EPOCHS = 60  # the cpu preset's epochs
MIN_EPOCHS = 10
MAX_STEPS = 10_000  # optimiser steps on CPU (cpu preset heads: about 10 minutes of one core, results/temi.md)


@dataclass(frozen=True)
class Recipe:
    """A named choice of settings: ``preset`` plus dotted ``overrides``, and ``reason`` (one paragraph).

    ``replaced``: recipe settings that a config file or ``--set`` overrode (filled by :func:`auto_config`).
    """

    name: str
    preset: str
    overrides: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    n_images: int = 0
    device: str = "cpu"
    replaced: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["replaced"] = list(self.replaced)
        return d

    def describe(self) -> str:
        """One line for the terminal: name, settings and reason."""
        settings = ", ".join(f"{k}={v}" for k, v in self.overrides.items()) or "no changes"
        extra = f"; replaced by your settings: {', '.join(self.replaced)}" if self.replaced else ""
        return f"recipe {self.name} (preset {self.preset}; {settings}{extra}): {self.reason}"


def detect_device(accelerator: str = "auto") -> str:
    """``"gpu"`` when ``accelerator`` is gpu, or auto and CUDA is available; else ``"cpu"``."""
    if accelerator not in ("auto", "cpu", "gpu"):
        raise ConfigError(f"accelerator must be one of auto, cpu, gpu, got {accelerator!r}")
    if accelerator == "auto":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return accelerator


def _warmups(epochs: int) -> dict[str, int]:
    """The cpu preset's warm-ups (3 and 6 of 60 epochs) scaled to ``epochs``, at least 1 each."""
    return {"optim.warmup_epochs": max(1, round(epochs / 20)),
            "loss.teacher_temp_warmup_epochs": max(1, round(epochs / 10))}


def choose_recipe(n_images: int, clusters: int, device: str) -> Recipe:
    """The recipe for ``n_images`` images in ``clusters`` clusters on ``device`` (cpu | gpu); see the module doc."""
    if n_images < 2 or clusters < 2 or device not in ("cpu", "gpu"):
        raise ConfigError(f"choose_recipe needs n_images >= 2, clusters >= 2 and device cpu or gpu, got "
                          f"{n_images}, {clusters}, {device!r}")
    if device == "gpu":
        return Recipe("reference", "default", {}, "an accelerator is present: the reference recipe (16 heads of "
                      "width 512, 100 epochs; the batch shrinks for small collections)", n_images, device)
    steps = math.ceil(n_images / CPU_BATCH)
    if n_images <= SPECTRAL_INIT_MAX_N and clusters < n_images - 1:  # spectral clustering needs K < N - 1
        over = {"head.init": "spectral", "head.init_epochs": INIT_EPOCHS, "optim.epochs": SMALL_EPOCHS,
                **_warmups(SMALL_EPOCHS)}
        reason = (f"no accelerator and {n_images} images (<= {SPECTRAL_INIT_MAX_N}): 4 small heads start from the "
                  f"spectral partition of the kNN graph and TEMI refines them for {SMALL_EPOCHS} epochs of "
                  f"{steps} steps; on the train splits TEMI from random heads ended below k-means on 1,000 "
                  f"images and below this start on 10,000 Tiny-ImageNet images, level with it on 5,000 CIFAR-10")
        return Recipe("cpu-spectral", "cpu", over, reason, n_images, device)
    epochs = min(CPU_EPOCHS, max(MIN_EPOCHS, MAX_STEPS // steps))
    over = {} if epochs == CPU_EPOCHS else {"optim.epochs": epochs, **_warmups(epochs)}
    reason = (f"no accelerator and {n_images} images: the cpu preset (4 heads of width 256, batch 64) for {epochs} "
              f"epochs of {steps} steps" + ("" if epochs == CPU_EPOCHS else
                                            f", fewer than its {CPU_EPOCHS} to stay near {MAX_STEPS} steps"))
    return Recipe("cpu", "cpu", over, reason, n_images, device)


def auto_config(n_images: int, config_path: str | Path | None, overrides: list[str]):
    """(TemiConfig, Recipe) for ``n_images`` images: the recipe of :func:`choose_recipe` (K from
    ``overrides``/the file, device from their ``accelerator``), then the file, then ``overrides``."""
    from unshuffle.clustering.config import flatten_settings, load_config

    # K and the accelerator the user asked for (checked in full below, once the preset is known)
    probe = load_config(config_path, overrides, preset="default", validate=False)
    recipe = choose_recipe(n_images, probe.clusters, detect_device(probe.accelerator))
    cfg = load_config(config_path, overrides, preset=recipe.preset, recipe=recipe.overrides)
    final = flatten_settings(cfg.to_dict())
    replaced = tuple(k for k, v in recipe.overrides.items() if final[k] != v)
    return cfg, Recipe(**{**asdict(recipe), "replaced": replaced})


def config_for_data(data: str | Path, split: str | None, config_path: str | Path | None, overrides: list[str]):
    """:func:`auto_config` for the images at ``data`` (opened to count them; K checked against the count
    first, with the message of :func:`unshuffle.clustering.pipeline.check_cluster_count`)."""
    from unshuffle.clustering.config import load_config
    from unshuffle.clustering.pipeline import check_cluster_count
    from unshuffle.data import open_images

    n = len(open_images(data, split=split))
    check_cluster_count(n, load_config(config_path, overrides, preset="default", validate=False).clusters, data)
    return auto_config(n, config_path, overrides)
