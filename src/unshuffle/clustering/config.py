"""TEMI settings: frozen dataclasses, presets, YAML files (safe loader) and key=value overrides.

Defaults follow the TEMI reference code (HHU-MMBS/TEMI-official-BMVC2023, ``main_args.py`` and the
README's training command): 16 heads of 2 layers (hidden 512, bottleneck 256), beta 0.6, student and
teacher temperature 0.1, p(k) momentum 0.9, teacher EMA 0.996, AdamW lr 1e-4 per 256 images with
weight decay 1e-4, 20 warm-up epochs, 100 epochs, batch 1024, 50 neighbours. One addition for small
collections: the batch halves (not below 64) until an epoch has ``optim.min_steps_per_epoch`` steps,
see :func:`batch_for`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from unshuffle.errors import ConfigError
from unshuffle.regular_files import check_regular


@dataclass(frozen=True)
class HeadConfig:
    n_heads: int = 16  # heads trained in parallel; the best is chosen by loss, never by labels
    hidden_dim: int = 512
    bottleneck_dim: int = 256
    n_layers: int = 2  # linear layers before the L2-normalised bottleneck
    normalize: str = "standardize"  # feature normalisation before the heads: standardize | l2 | none
    init: str = "random"  # random | spectral: fit the heads to the spectral partition first (head_init.py)
    init_epochs: int = 0  # epochs of that fit (not with head.init=random)


@dataclass(frozen=True)
class LossConfig:
    beta: float = 0.6  # exponent of the beta-PMI
    student_temp: float = 0.1
    teacher_temp: float = 0.1  # after warm-up
    warmup_teacher_temp: float = 0.1  # at epoch 0
    teacher_temp_warmup_epochs: int = 30  # heads are selected only after this many epochs
    prior_momentum: float = 0.9  # EMA momentum of the cluster prior p(k)


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 100
    batch_size: int = 1024
    lr: float = 1e-4  # per 256 images: the peak rate is lr * batch_size / 256
    min_lr: float = 1e-4  # per 256 images, reached at the end of the cosine decay
    warmup_epochs: int = 20  # linear learning-rate warm-up
    weight_decay: float = 1e-4
    clip_grad: float = 1.0  # max gradient norm; 0 turns clipping off
    teacher_momentum: float = 0.996  # EMA momentum of the teacher at step 0
    teacher_momentum_end: float = 0.996  # ... and at the last step (cosine in between)
    freeze_last_layer_epochs: int = 1  # epochs during which the last layer gets no update
    min_steps_per_epoch: int = 100  # halve the batch (not below 64) until an epoch has this many steps; 0: off


@dataclass(frozen=True)
class TemiConfig:
    clusters: int = 0  # required: number of clusters K (never taken from labels)
    knn: int = 0  # each image is paired with one of its knn nearest neighbours; 0 = auto (neighbours_for)
    seed: int = 0
    checkpoint_every: int = 0  # also keep numbered epochNNNN.ckpt every this many epochs (0: none, only last and best)
    checkpoint_every_steps: int = 0  # also refresh checkpoints/last.ckpt every this many steps (0: epoch ends
    # and every 10 minutes of training only)
    accelerator: str = "auto"  # auto | cpu | gpu
    head: HeadConfig = field(default_factory=HeadConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def to_dict(self) -> dict:
        """Nested plain dict (JSON/YAML-ready)."""
        return dataclasses.asdict(self)

    def validate(self) -> TemiConfig:
        """Check every field against its range; raise ConfigError naming the first bad one."""
        for key, value in flatten_settings(self.to_dict()).items():
            _check(key, value)
        if self.loss.teacher_temp_warmup_epochs >= self.optim.epochs:
            raise ConfigError(
                f"loss.teacher_temp_warmup_epochs must be < optim.epochs ({self.optim.epochs}) so that heads can "
                f"be selected after the warm-up, got {self.loss.teacher_temp_warmup_epochs}")
        if self.optim.warmup_epochs >= self.optim.epochs:
            raise ConfigError(f"optim.warmup_epochs must be < optim.epochs ({self.optim.epochs}), "
                              f"got {self.optim.warmup_epochs}")
        return self


# field -> (low, high) inclusive for numbers, or a tuple of allowed strings
_RULES: dict[str, tuple] = {
    "clusters": (2, 1_000_000), "knn": (0, 10_000), "seed": (0, 2**31 - 1), "checkpoint_every": (0, 100_000),
    "checkpoint_every_steps": (0, 100_000_000),
    "accelerator": ("auto", "cpu", "gpu"),
    "head.n_heads": (1, 1024), "head.hidden_dim": (1, 65_536), "head.bottleneck_dim": (1, 65_536),
    "head.n_layers": (2, 16), "head.normalize": ("standardize", "l2", "none"),
    "head.init": ("random", "spectral"), "head.init_epochs": (0, 100_000),
    "loss.beta": (1e-3, 1.0), "loss.student_temp": (1e-3, 10.0), "loss.teacher_temp": (1e-3, 10.0),
    "loss.warmup_teacher_temp": (1e-3, 10.0), "loss.teacher_temp_warmup_epochs": (0, 100_000),
    "loss.prior_momentum": (0.0, 1.0),
    "optim.epochs": (1, 100_000), "optim.batch_size": (2, 1_000_000), "optim.lr": (0.0, 10.0),
    "optim.min_lr": (0.0, 10.0), "optim.warmup_epochs": (0, 100_000), "optim.weight_decay": (0.0, 10.0),
    "optim.clip_grad": (0.0, 1e6), "optim.teacher_momentum": (0.0, 1.0), "optim.teacher_momentum_end": (0.0, 1.0),
    "optim.freeze_last_layer_epochs": (0, 100_000), "optim.min_steps_per_epoch": (0, 1_000_000),
}

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # 10k cached features in <= 10 minutes on 2 CPU cores, chosen from the compute budget and the
    # training loss alone (no labels): a quarter of the heads at half the width, 60 epochs (6-7 s
    # each on one idle core; at 20 epochs the loss was still falling at every epoch, so the label-free
    # choice was always the last one). The batch is 64 (the reference's per-GPU batch) so that the
    # step count, and with it the
    # per-step teacher EMA, stays high: at batch 256 the loss had not left its uniform-prediction
    # value -(2 - 2 beta) log(K) / K after 25 epochs; at 64 it did by epoch 7. The peak rate per step
    # (lr * 64 / 256 = 4e-4) is the reference's (1e-4 * 1024 / 256).
    "cpu": {"head.n_heads": 4, "head.hidden_dim": 256, "head.bottleneck_dim": 128, "optim.epochs": 60,
            "optim.batch_size": 64, "optim.warmup_epochs": 3, "optim.lr": 1.6e-3, "optim.min_lr": 1.6e-3,
            "loss.teacher_temp_warmup_epochs": 6},
}


MIN_AUTO_BATCH = 64  # the reference's per-GPU batch; the auto rule never goes below it


def batch_for(optim: OptimConfig, n_images: int) -> tuple[int, float]:
    """The batch used on ``n_images`` images and the factor that turns ``optim.lr`` into a per-step rate.

    The reference recipe (batch 1024) was made for ImageNet: 1,250 steps per epoch. On 10,000 images it
    gives 10 steps per epoch and 1,000 in a whole run, too few for the per-step teacher EMA and the
    cluster prior to move (measured on Tiny-ImageNet val: 21% accuracy, 11 points below k-means, the
    training loss still near its uniform-prediction value at the end; with this rule, batch 64:
    36.1%, 4 points above k-means; results/temi.md).
    So the batch halves, not below 64, until an epoch has ``optim.min_steps_per_epoch`` steps. It reads
    the image count only. The per-step rates stay those of the configured batch (``lr * batch / 256``
    with the configured batch, the reference's linear rule), as the cpu preset does by hand: a smaller
    batch takes more steps of the same size, not smaller ones. Without shrinking, the rule is unchanged.
    """
    batch = min(optim.batch_size, n_images)
    scale = batch / 256  # linear scaling rule of the reference code
    while (optim.min_steps_per_epoch and batch // 2 >= MIN_AUTO_BATCH
           and math.ceil(n_images / batch) < optim.min_steps_per_epoch):
        batch //= 2
    return batch, scale


def neighbours_for(knn: int, n_images: int, clusters: int) -> int:
    """The neighbour count used: ``knn`` when set, else (``knn=0``) ``N / (4 K)`` clipped to [5, 50].

    The reference's 50 neighbours were used where clusters hold thousands of images (N/K >= 500);
    when an average cluster holds only N/K images, 50 neighbours would reach far outside it, so the
    auto rule keeps the neighbourhood at a quarter of an average cluster. It reads the requested K
    and the image count only, never labels. Always < N.
    """
    k = knn if knn > 0 else min(50, max(5, n_images // (4 * clusters)))
    return max(1, min(k, n_images - 1))


def flatten_settings(d: dict, prefix: str = "") -> dict[str, Any]:
    """Nested settings dict -> dotted keys, e.g. ``{"optim": {"lr": 1}}`` -> ``{"optim.lr": 1}``.

    An empty mapping is a value unless it is a whole section (``optim: {}``): ``lr: {}`` used to vanish.
    """
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and (v or f"{prefix}{k}" in ("head", "loss", "optim")):
            out.update(flatten_settings(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _field_types() -> dict[str, type]:
    types = {}
    for f in fields(TemiConfig):
        if f.name in ("head", "loss", "optim"):
            sub = {"head": HeadConfig, "loss": LossConfig, "optim": OptimConfig}[f.name]
            types.update({f"{f.name}.{g.name}": _TYPES[g.type] for g in fields(sub)})
        else:
            types[f.name] = _TYPES[f.type]
    return types


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _check(key: str, value: Any) -> None:
    rule = _RULES[key]
    if isinstance(rule[0], str):
        if value not in rule:
            raise ConfigError(f"{key} must be one of {', '.join(rule)}, got {value!r}")
        return
    low, high = rule
    if not low <= value <= high:
        raise ConfigError(f"{key} must be in [{low}, {high}], got {value!r}")


def _coerce(key: str, value: Any, types: dict[str, type]) -> Any:
    if key not in types:
        raise ConfigError(f"unknown setting {key!r}; valid settings: {', '.join(sorted(types))}")
    want = types[key]
    if want is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-4" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want is int and isinstance(value, float) and value.is_integer() and key != "seed":
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if type(value) is not want:
        raise ConfigError(f"{key} must be of type {want.__name__}, got {value!r} ({type(value).__name__})")
    return value


def config_from_dict(values: dict[str, Any]) -> TemiConfig:
    """Build a TemiConfig from a nested or dotted dict; unknown keys and wrong types raise ConfigError."""
    types = _field_types()
    flat = flatten_settings(values)
    sections: dict[str, dict] = {"head": {}, "loss": {}, "optim": {}}
    top: dict[str, Any] = {}
    for key, value in flat.items():
        value = _coerce(key, value, types)
        if "." in key:
            sec, name = key.split(".", 1)
            sections[sec][name] = value
        else:
            top[key] = value
    return TemiConfig(head=HeadConfig(**sections["head"]), loss=LossConfig(**sections["loss"]),
                      optim=OptimConfig(**sections["optim"]), **top)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["optim.lr=3e-4", "head.n_heads=4"]`` -> dotted dict, values parsed as YAML scalars."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. optim.lr=3e-4)")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: value is not a valid scalar ({e})") from e
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None,
                preset: str = "default", recipe: dict[str, Any] | None = None, validate: bool = True) -> TemiConfig:
    """Preset, then ``recipe`` (dotted settings chosen from the data, see clustering/recipe.py), then the
    YAML file at ``path``, then ``overrides``; validated before it is returned (``validate=False``: types
    and the cluster count only, for reading single settings before the preset is known)."""
    if preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    merged = dict(flatten_settings(TemiConfig().to_dict()))
    merged.update(PRESETS[preset])
    merged.update(recipe or {})
    if path is not None:
        path = Path(path)
        check_regular(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: config file not found") from e
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); a config file is YAML text") from e
        except yaml.YAMLError as e:  # one line: where, and what (PyYAML's own text spans several lines)
            mark = getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            what = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"{path}: not valid YAML ({where}{what})") from e
        except (ValueError, OverflowError, RecursionError) as e:  # PyYAML's constructors: 2001-22-14, !!int x
            raise ConfigError(f"{path}: not valid YAML ({type(e).__name__}: {e})") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
        file_values = flatten_settings(loaded or {})
        types = _field_types()
        for key in file_values:
            if key not in types:
                raise ConfigError(f"{path}: unknown setting {key!r}; valid settings: {', '.join(sorted(types))}")
        merged.update(file_values)
    if overrides:
        merged.update(parse_overrides(overrides) if isinstance(overrides, list) else flatten_settings(overrides))
    cfg = config_from_dict(merged)
    if cfg.clusters == 0:
        raise ConfigError("clusters must be given (e.g. --clusters 10); it is never read from the labels")
    return cfg.validate() if validate else cfg
