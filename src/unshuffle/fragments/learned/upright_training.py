"""Self-supervised training of the upright head (RotNet): predict which of 4 quarter turns was applied.

Pipeline, top to bottom: unlabeled images -> samples (each whole image, plus ``crops_per_image`` random
crops of random area and aspect ratio with random horizontal flips and, for a ``hole_prob`` share, grey
empty cells as in a partly assembled group), squeezed to ``size`` px -> the frozen Lite0 trunk's maps of
each sample in its 4 turns (``upright_backbone.py``, ONNX Runtime; cached as float16 in ``feature_cache``
so a rerun with other head settings skips it) -> an MLP head trained with AdamW on the 4-way turn class
-> the held-out whole images' turn accuracy, measured with the exported NumPy model (1 and 4 views).
With ``tune_from`` k the cached maps are those after block k - 1, and blocks k.. are fine-tuned with the
head (``upright_finetune.py``); the tuned blocks are exported as arrays beside the head.
Writes ``config.json``, ``metrics.jsonl`` and ``result.json`` in the run folder and, with ``export``,
the head as an arrays-only ``.npz``. With ``rule_photos`` (folders of upright photos of any size, outside
every evaluation set), the large-picture rule (``upright_cues.py``) is then fitted on those photos each
seen in its 4 turns (``fit_large_rule``); ``from_head`` skips the head training and only fits the rule.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unshuffle.errors import ConfigError
from unshuffle.fragments.bags.solution import EMPTY_GREY
from unshuffle.fragments.learned.upright_finetune import channel_stats, head_arrays, optimizer_step
from unshuffle.fragments.learned.upright_model import UprightModel, area_resize, save_upright_model


@dataclass(frozen=True)
class UprightTrainConfig:
    """Settings of one upright-head training run."""

    train_dir: str
    output_dir: str
    max_images: int = 0             # use at most this many images (seeded choice; 0 = all)
    image_size: int = 64            # images are centre-cropped and resized to this on read
    val_fraction: float = 0.05      # held aside to report the turn accuracy (no choice is made on it)
    size: int = 64                  # trunk input side
    blocks: int = 11                # Lite0 blocks in the trunk (11: up to block 10, 112 channels at size/16)
    hidden: int = 512               # MLP head width
    crops_per_image: int = 1        # random crops per training image, besides the whole image
    min_crop: float = 0.5           # smallest crop area as a share of the image
    hole_prob: float = 0.3          # share of crops that get 1-4 grey cells of a 4x4 grid
    epochs: float = 3               # passes over the training samples (each in its 4 turns); may be fractional
    batch: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-2
    dropout: float = 0.2
    tune_from: int = 0              # 0: frozen trunk, head only; k: blocks k..blocks-1 fine-tuned with the head
    trunk_lr: float = 3e-4          # peak learning rate of the fine-tuned blocks
    large_side: int = 128           # pictures with a side >= this are shown in 4 turns at solve time
    large_size: int = 128           # their shorter side in the trunk, aspect kept (0: squeezed to ``size``)
    rule_photos: tuple = ()         # folders of upright photos to fit the large-picture rule on
    rule_cues: tuple = ("brightness", "blue", "texture", "landscape")
    from_head: str | None = None    # an exported head: skip training, fit only the rule
    threads: int = 2
    seed: int = 0
    feature_cache: str | None = None  # folder for the trunk maps of the training samples
    export: str | None = None

    def validate(self) -> UprightTrainConfig:
        """Raise ConfigError naming the first bad field and its valid range."""
        if not isinstance(self.epochs, (int, float)) or not self.epochs > 0:
            raise ConfigError(f"epochs must be a number > 0, got {self.epochs!r}")
        for name in ("batch", "size", "image_size", "threads", "hidden", "blocks", "large_side"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if self.size % 16:
            raise ConfigError(f"size must be a multiple of 16 (the trunk's stride), got {self.size}")
        if not isinstance(self.large_size, int) or self.large_size < 0 or self.large_size % 16:
            raise ConfigError(f"large_size must be 0 or a multiple of 16, got {self.large_size!r}")
        from unshuffle.fragments.learned.upright_cues import CUES

        if any(c not in CUES for c in self.rule_cues):
            raise ConfigError(f"rule_cues must be among {list(CUES)}, got {list(self.rule_cues)}")
        if self.rule_photos and not self.large_size:
            raise ConfigError("rule_photos needs large_size > 0 (the rule scores the aspect-kept path)")
        if self.from_head and not self.rule_photos:
            raise ConfigError("from_head only fits the large-picture rule: give rule_photos too")
        if not isinstance(self.crops_per_image, int) or self.crops_per_image < 0:
            raise ConfigError(f"crops_per_image must be an integer >= 0, got {self.crops_per_image!r}")
        if not 0.0 < self.min_crop <= 1.0:
            raise ConfigError(f"min_crop must be in (0, 1], got {self.min_crop}")
        if not 0.0 <= self.hole_prob <= 1.0:
            raise ConfigError(f"hole_prob must be in [0, 1], got {self.hole_prob}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not isinstance(self.tune_from, int) or not (self.tune_from == 0 or 1 <= self.tune_from < self.blocks):
            raise ConfigError(f"tune_from must be 0 or an integer in [1, blocks - 1 = {self.blocks - 1}], "
                              f"got {self.tune_from!r}")
        if not self.trunk_lr > 0.0:
            raise ConfigError(f"trunk_lr must be > 0, got {self.trunk_lr}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        return self


def crop_batch(images: np.ndarray, cfg: UprightTrainConfig, rng: np.random.Generator) -> np.ndarray:
    """Augmented crops (B, size, size, 3) float32 0..255 of images (B, S, S, 3) uint8.

    One crop shape per call (random area in [min_crop, 1], aspect in [3/4, 4/3]), one position and
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
    x = area_resize(patch, cfg.size)
    cell = cfg.size // 4
    for i in np.flatnonzero(rng.random(b) < cfg.hole_prob):
        for c in rng.choice(16, rng.integers(1, 5), replace=False):
            r0, c0 = divmod(int(c), 4)
            x[i, r0 * cell:(r0 + 1) * cell, c0 * cell:(c0 + 1) * cell] = float(EMPTY_GREY)
    return x


def turned_maps(model: UprightModel, small: np.ndarray, chunk: int = 256, out: np.ndarray | None = None,
                 at: int = 0) -> np.ndarray:
    """(4, B, C, h, w) float16: trunk maps of ``np.rot90(small, r)`` for r = 0..3. small: (B, size, size, 3).

    out: write them into ``out[:, at:at + B]`` instead (and return ``out``).
    """
    for a in range(0, len(small), chunk):
        for r in range(4):
            m = model.maps(np.rot90(small[a:a + chunk], r, axes=(1, 2)))
            if out is None:
                out = np.zeros((4, len(small), *m.shape[1:]), np.float16)
            out[r, at + a:at + a + len(m)] = m
    return out


def _load_images(cfg: UprightTrainConfig) -> np.ndarray:
    from unshuffle.data import open_images

    ds = open_images(cfg.train_dir).with_size(cfg.image_size)
    idx = np.arange(len(ds))
    if cfg.max_images and cfg.max_images < len(ds):
        idx = np.sort(np.random.default_rng(cfg.seed).choice(len(ds), cfg.max_images, replace=False))
    return ds.images(idx)


def _samples_and_maps(cfg: UprightTrainConfig, model: UprightModel, train: np.ndarray) -> np.ndarray:
    """(4, N, C, h, w) float16 maps of the training samples, read from or written to ``feature_cache``.

    Samples: the whole images, then ``crops_per_image`` rounds of one crop per image (sample k * N + i is
    round k of image i); made 256 images at a time (the whole images, then each round's crops), so only
    the maps are held (``model``'s trunk: to block ``blocks - 1``, or ``tune_from - 1``).
    """
    key = {k: getattr(cfg, k) for k in ("size", "blocks", "crops_per_image", "min_crop", "hole_prob", "seed")}
    if cfg.tune_from:
        key["blocks"] = cfg.tune_from  # the lower trunk's maps
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode() + model.backbone_sha256.encode()
                            + train.tobytes()).hexdigest()[:16]
    path = Path(cfg.feature_cache) / f"upright-maps-{digest}.npy" if cfg.feature_cache else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False, mmap_mode="r")
    rng = np.random.default_rng([cfg.seed, 1])
    n, maps = len(train), None
    for a in range(0, n, 256):
        for k in range(1 + cfg.crops_per_image):
            part = area_resize(train[a:a + 256], cfg.size) if k == 0 else crop_batch(train[a:a + 256].copy(), cfg, rng)
            if maps is None:
                first = turned_maps(model, part[:1])
                maps = np.zeros((4, n * (1 + cfg.crops_per_image), *first.shape[2:]), np.float16)
            turned_maps(model, part, out=maps, at=k * n + a)
    if path is not None:
        from unshuffle.runs.atomic import atomic_path

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, maps)
    return maps


def train_upright_model(cfg: UprightTrainConfig, images: np.ndarray | None = None) -> dict:
    """Train, write the run folder (and the export); returns the final metrics.

    images: (N, S, S, 3) uint8 to use instead of reading ``cfg.train_dir`` (tests).
    """
    import torch
    from torch import nn

    from unshuffle.fragments.learned.upright_backbone import file_sha256, weight_file

    # ---------------------------------------------------------------- config and data
    cfg.validate()
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    if cfg.from_head:
        from unshuffle.fragments.learned.upright_model import load_upright_model

        return _finish(cfg, out, load_upright_model(cfg.from_head), {"from_head": str(cfg.from_head)})
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    images = _load_images(cfg) if images is None else images
    order = rng.permutation(len(images))
    n_val = max(1, int(round(cfg.val_fraction * len(images))))
    val, train = images[order[:n_val]], images[np.sort(order[n_val:])]
    # ---------------------------------------------------------------- frozen trunk maps
    t0 = time.time()
    model = UprightModel({}, cfg.size, cfg.blocks, (), file_sha256(weight_file()), cfg.large_side)
    model._engine = _threaded_trunk(cfg)
    maps = _samples_and_maps(cfg, model, train)
    t_maps = time.time() - t0
    if cfg.tune_from:
        return _finish(cfg, out, *_tuned(cfg, out, model, maps, val, t0, t_maps))
    mean, std = channel_stats(maps)
    # ---------------------------------------------------------------- head and optimiser
    torch.manual_seed(cfg.seed)  # here, not earlier: building the trunk for its export draws from torch's RNG
    net = nn.Sequential(nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(maps[0, 0].size, cfg.hidden), nn.ReLU(),
                        nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, 4))
    n = maps.shape[1]
    steps = max(1, int(cfg.epochs * 4 * n) // cfg.batch)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    mu, sd = torch.from_numpy(mean)[None, :, None, None], torch.from_numpy(std)[None, :, None, None]
    # ---------------------------------------------------------------- loop
    log = []
    with open(out / "metrics.jsonl", "w") as fh:
        for step in range(1, steps + 1):
            net.train()
            r, i = rng.integers(0, 4, cfg.batch), rng.integers(0, n, cfg.batch)
            x = (torch.from_numpy(maps[r, i].astype(np.float32)) - mu) / sd
            loss = nn.functional.cross_entropy(net(x), torch.from_numpy(r))
            optimizer_step(loss, opt, sched, log, f"upright training, step {step}: lower lr ({cfg.lr})")
            if step % 200 == 0 or step == steps:
                fh.write(json.dumps({"step": step, "loss": float(np.mean(log)), "seconds": time.time() - t0}) + "\n")
                fh.flush()
                log = []
    # ---------------------------------------------------------------- export and held-out accuracy
    arrays = head_arrays(net, mean, std)
    model = dataclasses.replace(model, arrays=arrays,
                                map_shape=tuple(int(v) for v in maps.shape[2:]))
    model._logit_engine = _threaded_logits(cfg, model)
    result = {"epochs": cfg.epochs, "steps": steps, "seconds": time.time() - t0, "seconds_trunk_maps": t_maps,
              "train_images": int(len(train)), "train_samples": int(n), "val_images": int(len(val)),
              **val_accuracy(model, val)}
    model._logit_engine = None  # the solve-time engine (one thread) is built on first use
    return _finish(cfg, out, model, result)


def _tuned(cfg: UprightTrainConfig, out: Path, lower: UprightModel, maps: np.ndarray, val: np.ndarray,
           t0: float, t_maps: float) -> tuple[UprightModel, dict]:
    """Fine-tune blocks ``tune_from..`` and the head on the lower trunk's ``maps``; the exported model and
    its metrics (held-out accuracy measured through ONNX Runtime: the tuned trunk ending in the head)."""
    from unshuffle.fragments.learned.upright_finetune import finetune

    val_maps = turned_maps(lower, area_resize(val, cfg.size))
    with open(out / "metrics.jsonl", "w") as fh:
        head, trunk, metrics = finetune(maps, val_maps, cfg, fh)
    model = UprightModel(head, cfg.size, cfg.blocks, tuple(metrics.pop("map_shape")), lower.backbone_sha256,
                         cfg.large_side, trunk_arrays=trunk)
    model._logit_engine = _threaded_logits(cfg, model)
    result = {"epochs": cfg.epochs, "seconds": time.time() - t0, "seconds_trunk_maps": t_maps,
              "train_images": int(len(maps[0]) // (1 + cfg.crops_per_image)), "train_samples": int(maps.shape[1]),
              "val_images": int(len(val)), **metrics, **val_accuracy(model, val)}
    model._logit_engine = None  # the solve-time engine (one thread) is built on first use
    return model, result


def _finish(cfg: UprightTrainConfig, out: Path, model: UprightModel, result: dict) -> dict:
    """Fit the large-picture rule (with ``rule_photos``), then write the export and ``result.json``."""
    model = dataclasses.replace(model, large_size=cfg.large_size, large_rule=None)
    if cfg.rule_photos:
        model.large_rule = fit_large_rule(model, [_read_photos(d) for d in cfg.rule_photos], cfg.rule_cues)
        result["large_rule"] = model.large_rule
    if cfg.from_head:  # keep the head's own training record; add the rule fit's
        model.meta = {**model.meta, "rule_fit": {"config": dataclasses.asdict(cfg), **result}}
    else:
        model.meta = {**model.meta, "config": dataclasses.asdict(cfg), **result}
    if cfg.export:
        save_upright_model(model, cfg.export)
        result["export"] = str(cfg.export)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def _read_photos(folder: str) -> list[np.ndarray]:
    from unshuffle.data import open_images

    ds = open_images(folder)
    return [ds.image(i) for i in range(len(ds))]


def fit_large_rule(model: UprightModel, photo_sets: list[list[np.ndarray]], cues: tuple[str, ...]) -> dict:
    """The large-picture rule fitted on upright photos: the model's aspect-kept scores and the cues of each
    photo (``UprightModel.large_parts``), each candidate turn being the photo in that turn.

    photo_sets: lists of (H, W, 3) uint8 upright photos; those with no side of ``model.large_side`` px
    (solved on the small path, never through this rule) are left out and counted.
    """
    from unshuffle.fragments.learned.upright_cues import fit_rule, rule_scores

    given = [p for ps in photo_sets for p in ps]
    photos = [p for p in given if max(p.shape[:2]) >= model.large_side]
    if not photos:
        raise ConfigError(f"fitting the large-picture rule needs photos with a side of at least {model.large_side} "
                          f"px; none of the {len(given)} given has one")
    parts = [model.large_parts(p) for p in photos]
    scores, cue = np.stack([m for m, _ in parts]), np.stack([c for _, c in parts])
    rule = fit_rule(scores, cue, use=tuple(cues))
    landscape = [p.shape[1] > p.shape[0] for p in photos if p.shape[0] != p.shape[1]]
    rule["landscape_share"] = float(np.mean(landscape)) if landscape else None
    rule["fit_turn_accuracy"] = float(np.mean(np.argmax(rule_scores(scores, cue, rule), axis=1) == 0))
    rule["photos_too_small"] = len(given) - len(photos)
    return rule


def _threaded_trunk(cfg: UprightTrainConfig):
    """The training-time trunk (``cfg.threads`` threads): to block ``tune_from - 1`` when fine-tuning
    (the frozen lower part), else to ``blocks - 1``."""
    from unshuffle.fragments.learned.upright_backbone import trunk_engine

    return trunk_engine(cfg.tune_from or cfg.blocks, cfg.size, threads=cfg.threads)


def _threaded_logits(cfg: UprightTrainConfig, model: UprightModel):
    """The trained model's 64-px trunk ending in its head (``UprightModel.logits``) on ``cfg.threads`` threads,
    for the held-out accuracy."""
    from unshuffle.fragments.learned.upright_backbone import trunk_engine

    return trunk_engine(model.blocks, model.size, threads=cfg.threads, tuned=model.trunk_arrays or None,
                        head=model.folded_head())


def val_accuracy(model: UprightModel, images: np.ndarray) -> dict:
    """Share of held-out whole images, each given in its 4 turns, whose turn the model picks (1 and 4 views)."""
    res = {}
    for name, views in (("val_turn_accuracy", (0,)), ("val_turn_accuracy_4views", (0, 1, 2, 3))):
        hits = []
        for r in range(4):
            pics = list(np.rot90(images, r, axes=(1, 2)))
            q = model.turn_log_probs(pics, views=views).argmax(axis=1)
            hits.append((r + q) % 4 == 0)
        res[name] = float(np.mean(hits))
    return res
