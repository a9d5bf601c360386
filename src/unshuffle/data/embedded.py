"""The built-in demo set: scikit-image's bundled colour photos, centre-cropped and resized, no download."""

from __future__ import annotations

import numpy as np

from unshuffle.data.imageset import ArrayReader, ImageSet, center_crop_resize
from unshuffle.errors import ConfigError

#: scikit-image photo names in the order they appear in the demo set (real colour photographs only).
DEMO_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "retina",
    "hubble_deep_field",
    "immunohistochemistry",
    "stereo_motorcycle",
)


def demo_images(size: int = 64) -> ImageSet:
    """scikit-image's colour photos as an ImageSet of uint8 (size, size, 3) images, names = photo names.

    Each photo is centre-cropped to a square and resized (Lanczos) to ``size``; for
    ``stereo_motorcycle`` the left view is used. The set has no labels: it is meant for demos of
    fragment regrouping, where each photo is its own group.
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"size: expected a positive integer, got {size!r}")
    import skimage.data

    arrays = []
    for name in DEMO_PHOTOS:
        img = getattr(skimage.data, name)()
        if isinstance(img, tuple):  # stereo_motorcycle returns (left, right, disparity)
            img = img[0]
        arrays.append(center_crop_resize(np.ascontiguousarray(img, dtype=np.uint8), size))
    stack = np.stack(arrays)
    return ImageSet(ArrayReader(stack), list(DEMO_PHOTOS), source="skimage.data", format="embedded")


def digits_images(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), ready for a backbone.

    Returns (images uint8 (1797, size, size, 3): the 0..16 grey levels scaled to 0..255, inverted to
    dark ink on white, bilinearly upscaled and repeated to RGB; labels (1797,) int64 digits 0-9).
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 8:
        raise ConfigError(f"size: expected an integer >= 8, got {size!r}")
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    grey = (255 - np.round(digits.images * (255 / 16))).astype(np.uint8)  # (N, 8, 8)
    big = np.stack([np.asarray(Image.fromarray(g).resize((size, size), Image.Resampling.BILINEAR)) for g in grey])
    return np.repeat(big[..., None], 3, axis=3), digits.target.astype(np.int64)
