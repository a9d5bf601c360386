"""Upright orientation model: a tiny CNN, run in NumPy, that tells which quarter turn makes a picture upright.

Trained self-supervised (RotNet, Gidaris et al., ICLR 2018: rotation prediction is free supervision)
on unlabeled photos by ``upright_training.py``; at solve time only NumPy runs it, so a normal solve
never imports torch. The network sees the picture area-resized to ``size`` x ``size`` (any aspect
ratio is squeezed, as in training) and predicts the class ``r`` of ``picture = np.rot90(upright, r)``.
``turn_log_probs`` feeds each picture in ``VIEWS`` turns and sums the consistent log-probabilities.

Weights are an ``.npz`` of arrays plus a JSON header (``format``, ``arch``, ``meta``), read with
``allow_pickle=False``: loading a model cannot run code. Batch norm is folded into the convolutions
at export, so the file holds only conv weights/biases and the final linear layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from unshuffle.errors import CheckpointError

FORMAT = "unshuffle-upright-model/1"
DEFAULT_MODEL = "upright_model.npz"  # shipped in unshuffle/assets
MEAN, STD = 0.5, 0.25  # input normalisation of RGB in [0, 1]
VIEWS = (0, 2)  # turns j each picture is shown in; on held-out Tiny *train* images the shipped model picked the
# turn of 49.8% with (0,), 50.7% with (0, 2) and 51.6% with all 4, which costs twice the time of (0, 2)


@dataclass
class UprightModel:
    """Conv layers (3x3, padding 1, ReLU) then a linear layer to 4 turn classes.

    convs: list of (weight (O, I, 3, 3) float32, bias (O,) float32, stride); head: (weight (4, F), bias (4,))
    with F = channels * side * side flattened channel-major (as torch's ``Flatten`` of NCHW);
    size: input side in pixels.
    """

    convs: list
    head: tuple
    size: int
    meta: dict = field(default_factory=dict)

    def arch(self) -> dict:
        """What the header records: input size, channels and strides."""
        return {"size": self.size, "channels": [int(w.shape[0]) for w, _, _ in self.convs],
                "strides": [int(s) for _, _, s in self.convs]}

    def logits(self, x: np.ndarray) -> np.ndarray:
        """x: (B, size, size, 3) float32, normalised RGB -> (B, 4) float32 logits of the class r."""
        for w, b, stride in self.convs:
            x = _conv3x3(x, w, b, stride)
            np.maximum(x, 0.0, out=x)
        flat = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)  # channel-major, as NCHW Flatten
        return flat @ self.head[0].T + self.head[1]

    def turn_log_probs(self, pictures: list[np.ndarray], views: tuple[int, ...] = VIEWS) -> np.ndarray:
        """(G, 4) float64: log-probability (up to a constant per row) that ``np.rot90(picture, q)`` is upright.

        pictures: G arrays (H, W, 3) uint8 of any size. Each is resized to ``size``, shown turned by each j of
        ``views``, and the score of "picture = rot90(upright, r)" sums log p_j((r + j) % 4); q = -r mod 4.
        """
        if not pictures:
            return np.zeros((0, 4))
        small = _resize_all(pictures, self.size)
        small = (small / np.float32(255.0) - np.float32(MEAN)) / np.float32(STD)
        batch = np.concatenate([np.rot90(small, j, axes=(1, 2)) for j in views], axis=0)
        logp = _log_softmax(self.logits(np.ascontiguousarray(batch)).astype(np.float64))
        logp = logp.reshape(len(views), len(pictures), 4)  # (view, g, class)
        r = np.arange(4)
        score_r = sum(logp[k][:, (r + j) % 4] for k, j in enumerate(views))  # (G, 4) over r
        return score_r[:, (-r) % 4]  # column q holds r = -q mod 4


def _conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """x (B, H, W, I) float32, w (O, I, 3, 3), padding 1 -> (B, H', W', O) float32 (im2col + matmul)."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))[:, ::stride, ::stride]
    bsz, ho, wo = win.shape[:3]
    cols = win.reshape(bsz * ho * wo, -1)  # (I, 3, 3) per row, as torch's weight layout
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(bsz, ho, wo, w.shape[0]).astype(np.float32, copy=False)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64 area-averaging weights: output pixel k averages input span [k, k+1) * n_in / n_out."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    pix = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def area_resize(img: np.ndarray, size: int) -> np.ndarray:
    """(..., H, W, 3) uint8 or float -> (..., size, size, 3) float32 by area averaging (aspect ratio squeezed)."""
    h, w = img.shape[-3:-1]
    lead = img.shape[:-3]
    if h % size == 0 and w % size == 0:  # whole blocks: a plain mean (the same numbers, faster)
        return img.reshape(*lead, size, h // size, size, w // size, 3).mean(axis=(-4, -2), dtype=np.float32)
    rows, cols = resize_matrix(h, size).astype(np.float32), resize_matrix(w, size).astype(np.float32)
    tall = np.moveaxis(np.tensordot(rows, img.astype(np.float32), axes=(1, img.ndim - 3)), 0, -3)
    return np.moveaxis(np.tensordot(cols, tall, axes=(1, img.ndim - 2)), 0, -2).astype(np.float32)


def _resize_all(pictures: list[np.ndarray], size: int) -> np.ndarray:
    """(G, size, size, 3) float32: each picture area-resized, pictures of one shape in one call."""
    out = np.empty((len(pictures), size, size, 3), np.float32)
    by_shape: dict[tuple, list[int]] = {}
    for i, p in enumerate(pictures):
        by_shape.setdefault(p.shape, []).append(i)
    for idx in by_shape.values():
        out[idx] = area_resize(np.stack([pictures[i] for i in idx]), size)
    return out


def save_upright_model(model: UprightModel, path: str | Path) -> None:
    """Write the model as an ``.npz`` of arrays only (atomically)."""
    from unshuffle.runs.weights import save_arrays

    arrays = {}
    for k, (w, b, _) in enumerate(model.convs):
        arrays[f"conv{k}.weight"], arrays[f"conv{k}.bias"] = np.asarray(w, np.float32), np.asarray(b, np.float32)
    arrays["head.weight"], arrays["head.bias"] = (np.asarray(a, np.float32) for a in model.head)
    save_arrays(path, arrays, {"format": FORMAT, "arch": model.arch(), "meta": model.meta})


def load_upright_model(path: str | Path | None = None) -> UprightModel:
    """Load a model written by ``save_upright_model`` (``None``: the one shipped with unshuffle).

    Only arrays are read (``allow_pickle=False``); anything else (a pickle, a wrong format, weights
    that do not fit the header's architecture) raises CheckpointError naming the file.
    """
    from unshuffle.runs.weights import load_arrays

    if path is None:
        ref = resources.files("unshuffle.assets").joinpath(DEFAULT_MODEL)
        with resources.as_file(ref) as p:
            return load_upright_model(p)
    path = Path(path)
    header, arrays = load_arrays(path, FORMAT, "upright model")
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    try:
        arch = header["arch"]
        convs, c_in = [], 3
        for k, (c_out, stride) in enumerate(zip(arch["channels"], arch["strides"], strict=True)):
            w, b = arrays.pop(f"conv{k}.weight"), arrays.pop(f"conv{k}.bias")
            if w.shape != (c_out, c_in, 3, 3) or b.shape != (c_out,):
                raise ValueError(f"conv{k}: shapes {w.shape}, {b.shape} do not fit {c_in}->{c_out}")
            convs.append((w, b, int(stride)))
            c_in = c_out
        side = int(arch["size"]) // int(np.prod(arch["strides"]))
        hw, hb = arrays.pop("head.weight"), arrays.pop("head.bias")
        if hw.shape != (4, c_in * side * side) or hb.shape != (4,):
            raise ValueError(f"head: shapes {hw.shape}, {hb.shape} do not fit {c_in * side * side} -> 4")
        if arrays:
            raise ValueError(f"unexpected arrays {sorted(arrays)}")
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: upright model weights do not fit its architecture ({e})") from e
    return UprightModel(convs, (hw, hb), int(arch["size"]), header.get("meta", {}))
