"""Orientation cues on hand-made pictures with known answers, and the rule that combines them."""

import numpy as np
import pytest

from unshuffle.fragments.bags.solution import EMPTY_GREY
from unshuffle.fragments.learned.upright_cues import CUES, aspect_shape, cue_values, fit_rule, rule_scores

BRIGHT, BLUE, TEXTURE, LANDSCAPE = (CUES.index(c) for c in CUES)


def _halves(top: tuple, bottom: tuple, h: int = 60, w: int = 90) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = top
    img[h // 2 :] = bottom
    return img


def test_brightness_top_minus_bottom_in_each_turn():
    """White top half, black bottom: the top third is 255, the bottom third 0 (the resize keeps both flat)."""
    c = cue_values(_halves((255, 255, 255), (0, 0, 0)))
    # q = 0: upright as given (+1); q = 2: upside down (-1); q = 1, 3: top and bottom are the right and
    # left strips, which hold the same half-white, half-black columns (0)
    np.testing.assert_allclose(c[:, BRIGHT], [1.0, 0.0, -1.0, 0.0], atol=1e-5)


def test_blue_sky_over_yellow_ground():
    """B - (R + G)/2 is 255 for pure blue and -255 for yellow (255, 255, 0): the difference is 2 (/255)."""
    c = cue_values(_halves((0, 0, 255), (255, 255, 0)))
    np.testing.assert_allclose(c[:, BLUE], [2.0, 0.0, -2.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(c[:, BRIGHT], [-1 / 3, 0.0, 1 / 3, 0.0], atol=1e-5)  # luminance (85 - 170) / 255


def test_texture_is_busier_at_the_bottom():
    """Flat top half, a 0/255 stripe pattern in the bottom half: only the bottom third has differences."""
    img = _halves((100, 100, 100), (0, 0, 0), h=64, w=96)
    img[32:, ::2] = 255  # vertical stripes one pixel wide: |difference| 255 between every column pair
    c = cue_values(img)
    assert c[0, TEXTURE] > 0.5 and c[2, TEXTURE] == pytest.approx(-c[0, TEXTURE])
    np.testing.assert_allclose(c[[1, 3], TEXTURE], 0.0, atol=1e-5)


def test_landscape_prior_follows_the_turned_shape():
    np.testing.assert_array_equal(cue_values(np.zeros((60, 90, 3), np.uint8))[:, LANDSCAPE], [1, -1, 1, -1])
    np.testing.assert_array_equal(cue_values(np.zeros((90, 60, 3), np.uint8))[:, LANDSCAPE], [-1, 1, -1, 1])
    np.testing.assert_array_equal(cue_values(np.zeros((64, 64, 3), np.uint8))[:, LANDSCAPE], [0, 0, 0, 0])


def test_empty_grey_cells_are_left_out():
    """Top third 200, the rest 50, but half of the bottom third is empty grey: the bottom mean stays 50."""
    img = np.full((96, 96, 3), 50, np.uint8)
    img[:32] = 200
    img[64:, :48] = EMPTY_GREY
    c = cue_values(img)
    assert c[0, BRIGHT] == pytest.approx((200 - 50) / 255, abs=1e-4)


def test_aspect_shape_keeps_ratio_and_caps_it():
    assert aspect_shape(321, 481, 128, 16) == (128, 192)
    assert aspect_shape(481, 321, 128, 16) == (192, 128)
    assert aspect_shape(28, 300, 64, 16) == (64, 256)  # 10.7:1 capped at 4:1


def test_rule_scores_are_log_softmax_of_the_weighted_sum():
    model = np.array([[0.0, -1.0, -2.0, -3.0]])
    cues = np.zeros((1, 4, len(CUES)))
    cues[0, :, LANDSCAPE] = [1, -1, 1, -1]
    out = rule_scores(model, cues, {"model": 2.0, "cues": {"landscape": 0.5}})
    z = np.array([0.5, -2.5, -3.5, -6.5])
    np.testing.assert_allclose(out[0], z - np.log(np.exp(z).sum()))


def test_fit_rule_finds_the_informative_cue():
    """Photos whose true turn (column 0) is always the landscape one, a model that is pure noise."""
    rng = np.random.default_rng(0)
    n = 200
    model = rng.normal(size=(n, 4))
    cues = np.zeros((n, 4, len(CUES)))
    cues[:, :, LANDSCAPE] = [1, -1, 1, -1]
    cues[:, :, BRIGHT] = rng.normal(size=(n, 4))
    cues[:, 0, BRIGHT] += 1.0  # brighter top when upright
    rule = fit_rule(model, cues, use=("brightness", "landscape"))
    assert rule["cues"]["landscape"] > 0.5 and rule["cues"]["brightness"] > 0.3
    assert abs(rule["model"]) < 0.3 and rule["photos"] == n
