"""ImageSet: a lazy, indexable collection of RGB uint8 images with optional labels and a fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from unshuffle.errors import DataFormatError


class ImageReader(Protocol):
    """What a format module provides: random access to raw decoded images, and a content hash."""

    def __len__(self) -> int: ...

    def read(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)."""
        ...

    def fingerprint(self) -> str:
        """A hex digest that changes whenever any image's bytes change."""
        ...


def to_rgb(img: np.ndarray, where: str = "") -> np.ndarray:
    """Return ``img`` as uint8 (H, W, 3): greyscale is repeated, an alpha channel is dropped."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise DataFormatError(where, f"expected uint8 pixels, got {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise DataFormatError(where, f"expected an (H, W[, C]) image, got shape {img.shape}")
    c = img.shape[2]
    if c == 1:
        return np.repeat(img, 3, axis=2)
    if c == 3:
        return img
    if c == 4:
        return np.ascontiguousarray(img[:, :, :3])
    raise DataFormatError(where, f"expected 1, 3 or 4 channels, got {c}")


def center_crop_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop ``img`` (H, W, 3) uint8 to a square and resize it to (size, size, 3) uint8."""
    h, w = img.shape[:2]
    if h == w == size:
        return img
    from PIL import Image

    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = img[top : top + side, left : left + side]
    pil = Image.fromarray(np.ascontiguousarray(square))
    return np.asarray(pil.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)


class ImageSet:
    """A lazy collection of images: only the images asked for are decoded.

    Attributes:
        source: the path it was opened from.
        format: short name of the detected format (``"pickle-batches"``, ``"folder"``, ...).
        names: (N,) stable identifiers, e.g. the file path relative to ``source``.
        labels: (N,) int64 class indices, or None when the data has no labels.
        class_names: class index -> name, or None.
        size: when set, every image is centre-cropped and resized to (size, size).
    """

    def __init__(
        self,
        reader: ImageReader,
        names: Sequence[str],
        *,
        source: str | Path = "",
        format: str = "",
        labels: np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
        size: int | None = None,
    ):
        self._reader = reader
        self.names = list(names)
        self.source = str(source)
        self.format = format
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.class_names = None if class_names is None else list(class_names)
        self.size = size
        if len(self.names) != len(reader):
            raise DataFormatError(self.source, f"{len(self.names)} names for {len(reader)} images")
        if self.labels is not None and self.labels.shape != (len(reader),):
            raise DataFormatError(self.source, f"labels of shape {self.labels.shape} for {len(reader)} images")

    def __len__(self) -> int:
        return len(self._reader)

    def __repr__(self) -> str:
        n_cls = "no labels" if self.labels is None else f"{len(self.class_names or [])} classes"
        return f"ImageSet({self.source!r}, format={self.format!r}, n={len(self)}, {n_cls}, size={self.size})"

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 (H, W, 3) (or (size, size, 3) when ``size`` is set)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"image index {i} out of range for {len(self)} images")
        i = int(i) % len(self)
        where = f"{self.source}[{self.names[i]}]"
        img = to_rgb(self._reader.read(i), where)
        return img if self.size is None else center_crop_resize(img, self.size)

    def images(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images at ``indices`` stacked as uint8 (n, H, W, 3); they must share one shape."""
        imgs = [self.image(int(i)) for i in indices]
        if not imgs:
            raise ValueError("no indices given")
        shapes = {im.shape for im in imgs}
        if len(shapes) > 1:
            raise DataFormatError(
                self.source, f"images differ in shape {sorted(shapes)}; open it with size=S to resize them"
            )
        return np.stack(imgs)

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        """A view on the images at ``indices`` (for hold-out splits); reads stay lazy."""
        idx = np.asarray(indices, dtype=np.int64)
        return ImageSet(
            _SubsetReader(self._reader, idx),
            [self.names[i] for i in idx],
            source=self.source,
            format=self.format,
            labels=None if self.labels is None else self.labels[idx],
            class_names=self.class_names,
            size=self.size,
        )

    def with_size(self, size: int | None) -> ImageSet:
        """The same images, centre-cropped and resized to (size, size) on read."""
        return ImageSet(
            self._reader, self.names, source=self.source, format=self.format,
            labels=self.labels, class_names=self.class_names, size=size,
        )

    def fingerprint(self) -> str:
        """Hex digest of the content, the names and the resize setting."""
        h = hashlib.sha256(self._reader.fingerprint().encode())
        h.update("\n".join(self.names).encode())
        h.update(f"size={self.size}".encode())
        return h.hexdigest()


class ArrayReader:
    """Reader over an in-memory or memory-mapped uint8 (N, H, W, C) array."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def read(self, i: int) -> np.ndarray:
        return np.asarray(self.array[i])

    def fingerprint(self) -> str:
        h = hashlib.sha256(str(self.array.shape).encode())
        h.update(np.ascontiguousarray(self.array).tobytes())
        return h.hexdigest()


class _SubsetReader:
    def __init__(self, base: ImageReader, idx: np.ndarray):
        self.base, self.idx = base, idx

    def __len__(self) -> int:
        return len(self.idx)

    def read(self, i: int) -> np.ndarray:
        return self.base.read(int(self.idx[i]))

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.base.fingerprint().encode())
        h.update(self.idx.tobytes())
        return h.hexdigest()


def from_array(images: np.ndarray, labels: np.ndarray | None = None, *, source: str = "<array>",
               class_names: Sequence[str] | None = None) -> ImageSet:
    """Wrap a uint8 (N, H, W, 3) array (and optional (N,) labels) as an ImageSet."""
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise DataFormatError(source, f"expected uint8 (N, H, W, C) images, got {images.dtype} {images.shape}")
    return ImageSet(ArrayReader(images), [str(i) for i in range(len(images))], source=source,
                    format="array", labels=labels, class_names=class_names)
