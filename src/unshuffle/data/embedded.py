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
