"""Image-level test-time transforms for feature extraction: the horizontal mirror of an ImageSet."""

from __future__ import annotations

import hashlib

import numpy as np

from unshuffle.data.imageset import ImageReader, ImageSet


class _MirrorReader:
    """Reader that returns every image of ``base`` flipped left-right (a new fingerprint, so a new cache entry)."""

    def __init__(self, base: ImageReader):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def read(self, i: int) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(self.base.read(i))[:, ::-1])

    def fingerprint(self) -> str:
        return hashlib.sha256(("mirror:" + self.base.fingerprint()).encode()).hexdigest()


def mirrored(images: ImageSet) -> ImageSet:
    """The same images flipped left-right, lazily (same names, labels and resize setting)."""
    return ImageSet(_MirrorReader(images._reader), images.names, source=images.source, format=images.format,
                    labels=images.labels, class_names=images.class_names, size=images.size)


def flip_average(feats: np.ndarray, feats_mirrored: np.ndarray) -> np.ndarray:
    """Flip test-time augmentation: the mean of each image's features and its mirror's, (N, D) float32.

    Each view is L2-normalised first so that neither dominates (pretrained embeddings compare by angle).
    """
    a = np.asarray(feats, dtype=np.float32)
    b = np.asarray(feats_mirrored, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"features and mirrored features differ in shape: {a.shape} vs {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return ((a + b) / 2).astype(np.float32)
