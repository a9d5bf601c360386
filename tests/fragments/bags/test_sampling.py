"""FragmentSampler: pure function of (seed, i), provenance that reassembles the sources, shapes."""

import numpy as np
import pytest

from unshuffle.data.imageset import from_array
from unshuffle.errors import ConfigError
from unshuffle.fragments.bags.sampling import FragmentSampler, cut_grid


def _images(n=30, size=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_bag_is_pure_function_of_seed_and_index():
    imgs = from_array(_images())
    a = FragmentSampler(imgs, 10, 4, seed=3)
    b = FragmentSampler(imgs, 10, 4, seed=3)
    for i in (0, 1, 2):
        a.sample(i)
    x, y = a.sample(5), b.sample(5)  # a drew 0..2 first, b did not
    assert np.array_equal(x.fragments, y.fragments)
    assert np.array_equal(x.source, y.source) and np.array_equal(x.image_ids, y.image_ids)
    other = FragmentSampler(imgs, 10, 4, seed=4).sample(5)
    assert not np.array_equal(other.fragments, x.fragments)
    assert not np.array_equal(a.sample(6).fragments, x.fragments)


def test_provenance_reassembles_each_source_image():
    raw = _images()
    bag = FragmentSampler(from_array(raw), 10, 4, seed=0).sample(0)
    assert bag.fragments.shape == (160, 16, 16, 3)
    assert len(np.unique(bag.image_ids)) == 10
    assert sorted(np.bincount(bag.source).tolist()) == [16] * 10
    for k, img_id in enumerate(bag.image_ids):
        canvas = np.zeros((64, 64, 3), np.uint8)
        for i in np.flatnonzero(bag.source == k):
            r, c = bag.row[i], bag.col[i]
            canvas[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] = bag.fragments[i]
        assert np.array_equal(canvas, raw[img_id])


def test_fragments_are_shuffled():
    bag = FragmentSampler(from_array(_images()), 10, 4, seed=0).sample(0)
    assert not np.array_equal(bag.source, np.sort(bag.source))


@pytest.mark.parametrize("size,grid,frag", [(32, 4, 8), (128, 8, 16), (64, 4, 16)])
def test_other_sizes(size, grid, frag):
    bag = FragmentSampler(from_array(_images(12, size)), 3, grid, seed=1).sample(2)
    assert bag.fragments.shape == (3 * grid * grid, frag, frag, 3)
    assert bag.grid == (grid, grid)


def test_errors():
    imgs = from_array(_images(5, 60))
    with pytest.raises(ConfigError, match="not divisible by grid=8"):
        FragmentSampler(imgs, 2, 8)
    with pytest.raises(ConfigError, match="holds only 5 images"):
        FragmentSampler(imgs, 6, 4)
    with pytest.raises(ConfigError, match="images_per_sample must be >= 1"):
        FragmentSampler(imgs, 0, 4)
    with pytest.raises(ConfigError, match="not divisible"):
        cut_grid(_images(1, 30), 4)


def test_select_keeps_provenance_aligned():
    bag = FragmentSampler(from_array(_images()), 4, 4, seed=0).sample(0)
    keep = np.arange(len(bag)) % 3 == 0
    sub = bag.select(keep)
    assert np.array_equal(sub.fragments, bag.fragments[keep])
    assert np.array_equal(sub.row, bag.row[keep]) and sub.n_images == 4
