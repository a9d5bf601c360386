"""Bench damage conditions: parsing, hand-checked pixel values, provenance, determinism."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from unshuffle.data.imageset import from_array
from unshuffle.errors import ConfigError
from unshuffle.fragments.bags.damage import (
    Condition,
    add_noise,
    apply_damage,
    jpeg_roundtrip,
    parse_condition,
    turn_fragments,
)
from unshuffle.fragments.bags.sampling import FragmentBag, FragmentSampler


def _bag(m: int = 40, s: int = 6, seed: int = 0) -> FragmentBag:
    rng = np.random.default_rng(seed)
    frags = rng.integers(0, 256, size=(m, s, s, 3), dtype=np.uint8)
    return FragmentBag(frags, np.arange(m) // 4, np.arange(m) % 2, (np.arange(m) // 2) % 2,
                       np.zeros(m, np.int64), np.arange(m // 4), (2, 2))


def test_parse_defaults_and_params():
    assert parse_condition("clean") == Condition()
    c = parse_condition("noise+jpeg+eroded+rotation+missing+unknown-n")
    assert (c.noise_sigma, c.jpeg_quality, c.erode, c.rotation, c.missing, c.unknown_n) == (8.0, 75, 1, True, 0.2, True)
    c = parse_condition("noise=12.5+missing=0.3")
    assert c.noise_sigma == 12.5 and c.missing == 0.3
    assert parse_condition(c.name) == c
    assert parse_condition("jpeg=60").name == "jpeg=60"


@pytest.mark.parametrize("spec, match", [
    ("blur", "unknown condition 'blur'"),
    ("noise+noise", "given twice"),
    ("rotation=2", "takes no parameter"),
    ("jpeg=high", "needs a int parameter"),
    ("missing=1.0", r"missing share must be in \[0, 1\)"),
    ("jpeg=0", "jpeg quality must be in 1..95"),
    ("", "empty condition"),
])
def test_parse_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_condition(spec)


def test_noise_hand_values():
    f = np.array([[[[0, 100, 255]]]], dtype=np.uint8)  # (1, 1, 1, 3)
    noise = np.array([[[[-3.4, 2.5, 9.0]]]], dtype=np.float32)
    # 0-3.4 -> -3.4 -> round -3 -> clip 0; 100+2.5 -> 102.5 -> rint (half to even) 102; 255+9 -> 255
    assert add_noise(f, noise).reshape(-1).tolist() == [0, 102, 255]


def test_noise_statistics_and_clean_is_identity():
    bag = _bag()
    assert np.array_equal(apply_damage(bag, Condition(), 3, 1).fragments, bag.fragments)
    flat = FragmentBag(np.full((200, 8, 8, 3), 128, np.uint8), *[np.zeros(200, np.int64)] * 4,
                       np.arange(1), (1, 1))
    out = apply_damage(flat, parse_condition("noise"), seed=1, index=0)
    d = out.fragments.astype(np.float64) - 128
    assert abs(d.std() - 8.0) < 0.1 and abs(d.mean()) < 0.1
    assert np.array_equal(d, np.rint(d))


def test_jpeg_matches_pillow_q75():
    bag = _bag(m=3, s=16)
    out = apply_damage(bag, parse_condition("jpeg"), 0, 0)
    buf = io.BytesIO()
    Image.fromarray(bag.fragments[1]).save(buf, format="JPEG", quality=75)
    expect = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert np.array_equal(out.fragments[1], expect)
    assert not np.array_equal(out.fragments, bag.fragments)
    assert np.array_equal(jpeg_roundtrip(bag.fragments[:1], 75)[0], out.fragments[0])


def test_eroded_crops_one_pixel_per_side():
    bag = _bag(s=6)
    out = apply_damage(bag, parse_condition("eroded"), 0, 0)
    assert out.fragments.shape == (40, 4, 4, 3)
    assert np.array_equal(out.fragments[5], bag.fragments[5, 1:5, 1:5])
    with pytest.raises(ConfigError, match="cannot erode 3 px"):
        apply_damage(bag, parse_condition("eroded=3"), 0, 0)


def test_turn_fragments_hand_case():
    f = np.arange(4, dtype=np.uint8).reshape(1, 2, 2, 1)  # [[0, 1], [2, 3]]
    assert turn_fragments(f, np.array([1]))[0, :, :, 0].tolist() == [[1, 3], [0, 2]]  # 90 deg CCW
    assert turn_fragments(f, np.array([-1]))[0, :, :, 0].tolist() == [[2, 0], [3, 1]]  # CW


def test_rotation_turn_puts_fragments_upright():
    bag = _bag()
    out = apply_damage(bag, parse_condition("rotation"), seed=5, index=2)
    assert set(out.turn.tolist()) == {0, 1, 2, 3}
    for i in range(len(bag)):
        assert np.array_equal(out.fragments[i], np.rot90(bag.fragments[i], k=-out.turn[i]))
        assert np.array_equal(np.rot90(out.fragments[i], k=out.turn[i]), bag.fragments[i])
    # composing with an existing turn
    again = apply_damage(out, parse_condition("rotation"), seed=6, index=2)
    for i in range(len(bag)):
        assert np.array_equal(np.rot90(again.fragments[i], k=again.turn[i]), bag.fragments[i])


def test_missing_drops_exact_share_and_keeps_provenance():
    bag = _bag(m=40)
    out = apply_damage(bag, parse_condition("missing"), seed=0, index=0)
    assert len(out) == 32
    keep = [int(np.flatnonzero((bag.fragments == f).all(axis=(1, 2, 3)))[0]) for f in out.fragments]
    assert keep == sorted(keep)
    assert np.array_equal(out.source, bag.source[keep]) and np.array_equal(out.row, bag.row[keep])
    assert np.array_equal(out.col, bag.col[keep]) and np.array_equal(out.image_ids, bag.image_ids)


def test_combined_is_consistent_with_parts_and_deterministic():
    bag = _bag()
    rot = apply_damage(bag, parse_condition("rotation"), 7, 3)
    both = apply_damage(bag, parse_condition("rotation+missing"), 7, 3)
    miss = apply_damage(bag, parse_condition("missing"), 7, 3)
    assert np.array_equal(both.source, miss.source) and np.array_equal(both.row, miss.row)
    kept = [i for i in range(len(bag)) if any(np.array_equal(bag.fragments[i], f) for f in miss.fragments)]
    assert np.array_equal(both.turn, rot.turn[kept])  # same turn per fragment with or without missing
    full = parse_condition("noise+jpeg+eroded+rotation+missing")
    a, b = apply_damage(bag, full, 7, 3), apply_damage(bag, full, 7, 3)
    assert np.array_equal(a.fragments, b.fragments) and np.array_equal(a.turn, b.turn)
    c = apply_damage(bag, full, 7, 4)
    assert not np.array_equal(a.turn, c.turn)


def test_on_sampled_bag(smooth_images):
    bag = FragmentSampler(from_array(smooth_images), 3, 4, seed=0).sample(0)
    out = apply_damage(bag, parse_condition("rotation+missing=0.25+eroded"), 0, 0)
    assert len(out) == 36 and out.fragments.shape[1:] == (14, 14, 3)
    i = 0
    src = smooth_images[out.image_ids[out.source[i]]]
    r, c = out.row[i], out.col[i]
    upright = src[r * 16 + 1:(r + 1) * 16 - 1, c * 16 + 1:(c + 1) * 16 - 1]
    assert np.array_equal(np.rot90(out.fragments[i], k=out.turn[i]), upright)
