"""Backbone input preprocessing in numpy/PIL: resize shorter side, centre crop, scale, normalise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from unshuffle.errors import DataFormatError
from unshuffle.features.backbones import BackboneSpec

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def resize_crop(img: np.ndarray, spec: BackboneSpec) -> np.ndarray:
    """One uint8 (H, W, 3) image -> uint8 (S, S, 3): shorter side to ``spec.resize_size`` (aspect kept;
    ``resize_mode="square"``: both sides, as SigLIP's and DINOv3's processors do), then the central
    ``spec.image_size`` square."""
    h, w = img.shape[:2]
    r = spec.resize_size
    if spec.resize_mode == "square":
        nh = nw = r
    elif h <= w:
        nh, nw = r, max(r, round(w * r / h))
    else:
        nh, nw = max(r, round(h * r / w)), r
    if (nh, nw) != (h, w):
        pil = Image.fromarray(np.ascontiguousarray(img)).resize((nw, nh), _RESAMPLE[spec.interpolation])
        img = np.asarray(pil)
    s = spec.image_size
    top, left = (nh - s) // 2, (nw - s) // 2
    return img[top : top + s, left : left + s]


def preprocess(images: np.ndarray | Sequence[np.ndarray], spec: BackboneSpec) -> np.ndarray:
    """Images as the backbone expects them.

    Args:
        images: uint8 (n, H, W, 3) array, or a list of uint8 (H_i, W_i, 3) arrays of any sizes.
        spec: the backbone's spec (resize_size, image_size, interpolation, mean, std).

    Returns:
        float32 (n, 3, S, S) with S = ``spec.image_size``: pixels / 255, minus mean, over std.
    """
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise DataFormatError(None, f"expected (n, H, W, 3) images or a list of them, got one image {images.shape}")
    n = len(images)
    s = spec.image_size
    out = np.empty((n, s, s, 3), dtype=np.float32)
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise DataFormatError(None, f"image {i}: expected uint8 (H, W, 3), got {img.dtype} {img.shape}")
        out[i] = resize_crop(img, spec)
    mean = np.asarray(spec.mean, dtype=np.float32) * 255.0
    std = np.asarray(spec.std, dtype=np.float32) * 255.0
    out -= mean
    out /= std
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
