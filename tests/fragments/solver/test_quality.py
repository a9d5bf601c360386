"""Label-free damage checks: Immerkaer's noise estimate on hand-built fields, JPEG border ring, bags."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.fragments.bags.damage import apply_damage, parse_condition
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.solver.quality import detect_damage, jpeg_ring_ratio, noise_levels


def test_noise_level_is_zero_on_planes_and_sigma_on_white_noise():
    yy, xx = np.mgrid[0:16, 0:16]
    plane = np.clip(40 + 3 * xx + 2 * yy, 0, 255).astype(np.uint8)  # the 3x3 mask cancels planes
    assert noise_levels(np.repeat(plane[None, :, :, None], 3, axis=3))[0] == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(0)
    grey = 128 + rng.normal(0, 10, (200, 32, 32))  # same noise in R, G, B: grey sigma is 10
    frags = np.repeat(np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None], 3, axis=3)
    assert noise_levels(frags).mean() == pytest.approx(10.0, rel=0.05)


def test_jpeg_ring_is_near_one_for_crops_and_low_for_fragments_saved_alone():
    from unshuffle.fragments.bags.damage import jpeg_roundtrip

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    img = np.stack([128 + 100 * np.sin(6 * xx + 3 * yy), 128 + 90 * np.cos(5 * yy - 2 * xx),
                    128 + 80 * np.sin(4 * xx * yy + 1)], -1) + rng.normal(0, 1, (64, 64, 3))
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    frags = img.reshape(4, 16, 4, 16, 3).swapaxes(1, 2).reshape(16, 16, 16, 3)
    assert 0.85 < jpeg_ring_ratio(frags) < 1.2
    assert jpeg_ring_ratio(jpeg_roundtrip(frags, 75)) < 0.8
    assert np.isnan(jpeg_ring_ratio(frags[:, :4, :4]))  # too small to tell


@pytest.mark.parametrize("size,grid", [(64, 4), (32, 4), (128, 8)])
def test_demo_bags_damage_is_found_and_clean_bags_pass(size, grid):
    from unshuffle.data.embedded import demo_images

    bag = FragmentSampler(demo_images(size), 5, grid, seed=0).sample(0)
    found = {c: detect_damage(apply_damage(bag, parse_condition(c), 0, 0).fragments)
             for c in ("clean", "rotation", "eroded", "noise", "jpeg")}
    for c in ("clean", "rotation", "eroded"):
        assert not found[c]["noise"] and not found[c]["jpeg"], (c, found[c])
    assert found["noise"]["noise"] and not found["noise"]["jpeg"]
    assert found["jpeg"]["jpeg"] and not found["jpeg"]["noise"]
