"""Cheap photo-orientation cues for large pictures, and the rule that combines them with the upright model.

Well-known regularities of camera photos (Vailaya et al., IEEE TIP 2002; Luo & Boutell, IEEE PAMI 2005):
the top of an upright photo is usually brighter and bluer (sky, lights) and less textured than its
bottom (ground), and photos are taken in landscape more often than in portrait. Each cue is computed for
every candidate turn q (the picture ``np.rot90(picture, q)`` taken as upright) on an aspect-kept copy
whose shorter side is 64 px; empty grey cells of a partly assembled group (exactly ``EMPTY_GREY``) are
left out of every mean. The rule is a conditional logit: the score of turn q is
``w_model * model_score[q] + sum_c w_c * cue_c[q]``, its weights fitted (``fit_rule``) by maximum
likelihood on upright photos outside the evaluation sets, each seen in its 4 turns.
"""

from __future__ import annotations

import numpy as np

CUES = ("brightness", "blue", "texture", "landscape")
CUE_SIDE = 64  # shorter side of the copy the cues are measured on


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64 area-averaging weights: output pixel k averages input span [k, k+1) * n_in / n_out."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    pix = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def rect_resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """(..., H, W, C) array -> (..., h, w, C) float32 by area averaging along each axis."""
    x = np.asarray(img, np.float32)
    rows = resize_matrix(x.shape[-3], h).astype(np.float32)
    cols = resize_matrix(x.shape[-2], w).astype(np.float32)
    tall = np.moveaxis(np.tensordot(rows, x, axes=(1, x.ndim - 3)), 0, -3)  # (..., h, W, C)
    return np.moveaxis(np.tensordot(cols, tall, axes=(1, x.ndim - 2)), 0, -2)


def aspect_shape(h: int, w: int, short: int, multiple: int = 1, max_aspect: float = 4.0) -> tuple[int, int]:
    """(h', w'): the shorter side becomes ``short``, the longer keeps the aspect ratio (at most ``max_aspect``
    times ``short``), rounded to a multiple of ``multiple``."""
    ratio = min(max(h, w) / min(h, w), max_aspect)
    long = max(short, int(round(short * ratio / multiple)) * multiple)
    return (short, long) if h <= w else (long, short)


def filled_stack(picture: np.ndarray) -> np.ndarray:
    """(H, W, 4) float32: the picture's RGB where it is filled (0 in empty grey cells) and the filled mask.

    Area-resizing the stack keeps both: the plain resize of the picture is ``rgb + EMPTY_GREY * (1 - mask)``.
    """
    from unshuffle.fragments.bags.solution import EMPTY_GREY

    filled = ~np.all(picture == np.asarray(EMPTY_GREY, picture.dtype), axis=2)
    weight = filled[..., None].astype(np.float32)
    return np.concatenate([picture.astype(np.float32) * weight, weight], axis=2)


def cue_values(picture: np.ndarray) -> np.ndarray:
    """(4, 4) float64: row q holds the cues ``CUES`` of ``np.rot90(picture, q)`` taken as upright.

    picture: (H, W, 3) uint8. brightness: mean luminance of the top third minus the bottom third (/255);
    blue: the same for B - (R + G) / 2; texture: mean absolute difference to the 4 neighbours (halved) of
    the bottom third minus the top third (/255); landscape: +1 if the turned picture is wider than tall,
    -1 if taller, 0 if square. Measured on a copy whose shorter side is ``CUE_SIDE`` px.
    """
    h, w = picture.shape[:2]
    return stack_cues(rect_resize(filled_stack(picture), *aspect_shape(h, w, min(CUE_SIDE, h, w))), (h, w))


def stack_cues(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``cue_values`` from a resized ``filled_stack`` (h, w, 4) of a picture of ``shape`` (H, W)."""
    h, w = shape
    weight = small[..., 3]
    rgb = small[..., :3] / np.maximum(weight, 1e-6)[..., None]  # the mean colour of the filled part
    lum = rgb.mean(axis=2)
    blue = rgb[..., 2] - 0.5 * (rgb[..., 0] + rgb[..., 1])
    grad = np.zeros_like(lum)  # each |difference| shared by its two pixels, so no side is favoured
    dy, dx = np.abs(np.diff(lum, axis=0)) / 2, np.abs(np.diff(lum, axis=1)) / 2
    grad[:-1] += dy
    grad[1:] += dy
    grad[:, :-1] += dx
    grad[:, 1:] += dx
    maps = np.stack([lum, blue, grad], axis=0)  # (3, h, w)
    sh, sw = max(1, small.shape[0] // 3), max(1, small.shape[1] // 3)
    # the top of np.rot90(x, q) (CCW turns) is x's top, right, bottom, left strip for q = 0, 1, 2, 3
    strips = [(slice(0, sh), slice(None)), (slice(None), slice(-sw, None)),
              (slice(-sh, None), slice(None)), (slice(None), slice(0, sw))]

    def strip_mean(k: int) -> np.ndarray:
        sl = strips[k]
        wt = weight[sl]
        return (maps[(slice(None), *sl)] * wt).sum(axis=(1, 2)) / max(float(wt.sum()), 1e-6)

    means = [strip_mean(k) for k in range(4)]
    out = np.zeros((4, 4))
    for q in range(4):
        top, bottom = means[q], means[(q + 2) % 4]
        out[q, 0] = (top[0] - bottom[0]) / 255.0
        out[q, 1] = (top[1] - bottom[1]) / 255.0
        out[q, 2] = (bottom[2] - top[2]) / 255.0
        wide = w if q % 2 == 0 else h
        tall = h if q % 2 == 0 else w
        out[q, 3] = float(np.sign(wide - tall))
    return out


def rule_scores(model_scores: np.ndarray, cues: np.ndarray, rule: dict) -> np.ndarray:
    """(N, 4) float64 log-probabilities of each turn under the rule.

    model_scores: (N, 4) the model's summed log-probabilities per turn; cues: (N, 4, len(CUES)) from
    ``cue_values``; rule: {"model": w, "cues": {name: w}} (a cue not named has weight 0).
    """
    w = np.array([float(rule["cues"].get(c, 0.0)) for c in CUES])
    z = float(rule["model"]) * np.asarray(model_scores, np.float64) + np.asarray(cues, np.float64) @ w
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def fit_rule(model_scores: np.ndarray, cues: np.ndarray, use: tuple[str, ...] = CUES, l2: float = 1e-2) -> dict:
    """Weights of the rule by maximum likelihood (L-BFGS, ``l2`` penalty) on upright photos.

    model_scores: (N, 4), cues: (N, 4, len(CUES)) of N photos given upright, so turn 0 is the right answer
    for every row (the 4 candidate turns of a photo are the photo seen in its 4 turns). ``use``: the cues
    that get a weight. Returns {"model": w, "cues": {name: w}, "l2": l2, "photos": N}.
    """
    from scipy.optimize import minimize

    cols = [CUES.index(c) for c in use]
    x = np.concatenate([np.asarray(model_scores, np.float64)[:, :, None],
                        np.asarray(cues, np.float64)[:, :, cols]], axis=2)  # (N, 4, 1 + k)

    def loss(wv: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ wv
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[:, 0]) + l2 * wv @ wv)
        grad = np.mean(np.einsum("nk,nkd->nd", p, x) - x[:, 0], axis=0) + 2 * l2 * wv
        return nll, grad

    res = minimize(loss, np.zeros(x.shape[2]), jac=True, method="L-BFGS-B")
    return {"model": float(res.x[0]), "cues": {c: float(v) for c, v in zip(use, res.x[1:], strict=True)},
            "l2": l2, "photos": int(len(x))}
