"""Tests of the embedded scikit-image demo set."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from unshuffle.data.embedded import DEMO_PHOTOS, demo_images
from unshuffle.data.imageset import center_crop_resize
from unshuffle.errors import ConfigError


def test_demo_images_are_the_cropped_photos():
    ds = demo_images(32)
    assert len(ds) == 8
    assert ds.names == list(DEMO_PHOTOS)
    assert ds.labels is None
    imgs = ds.images(range(len(ds)))
    assert imgs.shape == (8, 32, 32, 3) and imgs.dtype == np.uint8
    # the chelsea entry is the centre square of the cat photo, resized
    expected = center_crop_resize(skimage.data.chelsea(), 32)
    np.testing.assert_array_equal(ds.image(DEMO_PHOTOS.index("chelsea")), expected)
    # the photos are distinct from one another
    flat = imgs.reshape(8, -1).astype(np.int32)
    assert len({row.tobytes() for row in flat}) == 8


def test_demo_images_deterministic_fingerprint():
    assert demo_images(16).fingerprint() == demo_images(16).fingerprint()
    assert demo_images(16).fingerprint() != demo_images(24).fingerprint()


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_demo_images_bad_size(bad):
    with pytest.raises(ConfigError, match="size"):
        demo_images(bad)
