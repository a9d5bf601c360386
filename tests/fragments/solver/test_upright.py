"""Upright: a reassembled group is turned as a whole; placement stays valid and correct, orientation follows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from unshuffle.data.embedded import demo_images
from unshuffle.errors import ConfigError
from unshuffle.evaluation.placement import image_upright, score_solution
from unshuffle.fragments.bags.damage import apply_damage, parse_condition
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.bags.solution import assemble_group
from unshuffle.fragments.solver.fragment_solver import FragmentSolver
from unshuffle.fragments.solver.upright import make_upright, turn_cells, turn_groups


@pytest.fixture(scope="module")
def turned_bag():
    bag = FragmentSampler(demo_images(64), 4, 4, seed=3).sample(0)
    return apply_damage(bag, parse_condition("rotation"), 0, 0)


@pytest.fixture(scope="module")
def grown(turned_bag):
    return FragmentSolver(n_images=4, grid=4, rotations=True, upright=False).solve(turned_bag.fragments)


def test_turn_cells_matches_np_rot90():
    grid = np.arange(6).reshape(2, 3)
    r, c = np.divmod(np.arange(6), 3)
    for q in range(4):
        rr, cc, shape = turn_cells(r, c, (2, 3), q)
        turned = np.rot90(grid, q)
        assert turned.shape == shape
        assert np.array_equal(turned[rr, cc], grid[r, c])


def test_turning_groups_keeps_placement_valid_and_correct(turned_bag, grown):
    base = score_solution(turned_bag, grown, rotations=True)
    assert base["placement_accuracy"] == 1.0
    for qs in itertools.islice(itertools.product(range(4), repeat=grown.n_groups), 0, None, 7):
        sol = turn_groups(grown, np.array(qs))
        sol.validate(len(turned_bag))
        scores = score_solution(turned_bag, sol, rotations=True)
        assert scores["placement_accuracy"] == base["placement_accuracy"]
        assert scores["neighbour_accuracy"] == base["neighbour_accuracy"]


def test_the_right_turns_make_every_fragment_upright(turned_bag, grown):
    need = (turned_bag.turn - grown.turn) % 4  # what each member's group must turn (the truth, tests only)
    qs = np.array([need[grown.group == g][0] for g in range(grown.n_groups)])
    assert all((need[grown.group == g] == q).all() for g, q in enumerate(qs))
    sol = turn_groups(grown, qs)
    assert score_solution(turned_bag, sol, rotations=True)["upright_accuracy"] == 1.0
    per = image_upright(turned_bag, sol)
    assert per["upright"].all() and per["assembled"].all() and len(per["source"]) == 4
    off = image_upright(turned_bag, turn_groups(sol, np.ones(sol.n_groups, np.int64)))
    assert not off["upright"].any() and off["assembled"].all()
    canvas = assemble_group(turned_bag.fragments, sol, 0)
    assert np.array_equal(canvas, np.rot90(assemble_group(turned_bag.fragments, grown, 0), qs[0]))


class _Fixed:
    """A stand-in model preferring turn q = group index mod 4."""

    def turn_log_probs(self, pictures):
        return np.log(np.eye(4)[np.arange(len(pictures)) % 4] * 0.97 + 0.01)


def test_make_upright_applies_the_model_choice_and_records_it(turned_bag, grown):
    sol, info = make_upright(turned_bag.fragments, grown, _Fixed())
    assert info["upright_turns"] == [g % 4 for g in range(grown.n_groups)]
    assert len(info["upright_scores"]) == grown.n_groups
    sol.validate(len(turned_bag))
    assert np.array_equal(sol.turn, (grown.turn + sol.group % 4) % 4)


def test_solver_records_upright_turns_and_skips_them_when_upright_bags(turned_bag):
    sol = FragmentSolver(n_images=4, grid=4, rotations=True).solve(turned_bag.fragments)
    assert sol.settings["upright"] is True and len(sol.settings["upright_turns"]) == sol.n_groups
    plain = FragmentSolver(n_images=4, grid=4, rotations=False).solve(FragmentSampler(demo_images(64), 4, 4,
                                                                                      seed=3).sample(0).fragments)
    assert "upright_turns" not in plain.settings
    with pytest.raises(ConfigError, match="upright"):
        FragmentSolver(upright="yes").validate_params()


def _type2_puzzle(img: np.ndarray, s: int, seed: int):
    """A FragmentBag of one photo cut into s px pieces, each turned at random, shuffled."""
    from unshuffle.fragments.bags.sampling import FragmentBag

    rows, cols = img.shape[0] // s, img.shape[1] // s
    pieces = img[: rows * s, : cols * s].reshape(rows, s, cols, s, 3).transpose(0, 2, 1, 3, 4).reshape(-1, s, s, 3)
    rng = np.random.default_rng(seed)
    q = rng.integers(0, 4, len(pieces))
    order = rng.permutation(len(pieces))
    frags = np.stack([np.rot90(pieces[i], int(q[i])) for i in order])
    r, c = np.divmod(order, cols)
    return FragmentBag(np.ascontiguousarray(frags), np.zeros(len(order), np.int64), r, c, (-q[order]) % 4,
                       np.zeros(1, np.int64), (rows, cols))


def test_shipped_model_turns_a_turned_real_photo_upright():
    """scikit-image's rocket, given in each of its 4 turns at 64 px (one squeezed view) and at full size
    (427 x 640: the large-picture path, aspect kept at 128 x 192, four views, cues and landscape prior).

    (Of scikit-image's five natural photos the shipped model gets all 4 turns of rocket, coffee and motorcycle
    right at both sizes, astronaut at full size only (2 of 4 at 64 px), chelsea 3 of 4 at 64 px, none at full size.)
    """
    import skimage.data

    from unshuffle.fragments.solver.upright import upright_model

    model = upright_model()
    big = skimage.data.rocket()
    small = demo_images(64).image(3)
    for r in range(4):
        for pic in (small, big):
            q = int(model.turn_log_probs([np.rot90(pic, r)]).argmax())
            assert (r + q) % 4 == 0, (pic.shape, r, q)


def test_the_large_path_keeps_the_aspect_ratio_of_a_real_photo():
    """coffee (400 x 600) turned a quarter: the large path sees it at 192 x 128 (not squeezed) and turns it back;
    the landscape prior alone already prefers the turns that make it wide again."""
    import skimage.data

    from unshuffle.fragments.learned.upright_cues import CUES
    from unshuffle.fragments.solver.upright import upright_model

    model = upright_model()
    assert model.large_size == 128 and model.large_rule is not None
    seen = []
    engine = model.trunk(any_shape=True)
    model._large_engine = lambda x: (seen.append(x.shape[2:]), engine(x))[1]
    try:
        pic = np.ascontiguousarray(np.rot90(skimage.data.coffee(), 1))  # (600, 400): portrait now
        scores = model.turn_log_probs([pic])[0]
        _, cues = model.large_parts(pic)
    finally:
        model._large_engine = engine
    assert seen[:2] == [(192, 128), (128, 192)]  # turns 0 and 2 of the portrait picture, then 1 and 3
    assert int(scores.argmax()) == 3  # np.rot90(pic, 3) is the upright photo
    np.testing.assert_array_equal(cues[:, CUES.index("landscape")], [-1, 1, -1, 1])


def test_a_solved_type2_puzzle_of_a_real_photo_comes_out_upright():
    """rocket (427 x 640) in 64 px pieces, each turned: its group grows upside down; the upright step turns it."""
    import skimage.data

    bag = _type2_puzzle(skimage.data.rocket(), 64, seed=1)
    grown = FragmentSolver(n_images=1, rotations=True, upright=False).solve(bag.fragments)
    assert not image_upright(bag, grown, rotations=True)["upright"].any()
    sol = FragmentSolver(n_images=1, rotations=True).solve(bag.fragments)
    assert sol.settings["upright_turns"] == [2]
    assert image_upright(bag, sol, rotations=True)["upright"].all()


UPRIGHT_PROBE = """
import sys
import numpy as np
from unshuffle.fragments.solver.upright import upright_model
pictures = [np.zeros((64, 64, 3), np.uint8), np.zeros((140, 200, 3), np.uint8)]  # a small and a large group
print(upright_model().turn_log_probs(pictures).shape, "TORCH=" + str("torch" in sys.modules))
"""


def test_with_the_export_cached_the_upright_step_does_not_import_torch(tmp_path, monkeypatch):
    import subprocess
    import sys

    from unshuffle.fragments.learned.upright_model import load_upright_model

    monkeypatch.setenv("UNSHUFFLE_CACHE_DIR", str(tmp_path / "cache"))
    model = load_upright_model()
    model.logits(np.zeros((1, 64, 64, 3))), model.trunk(any_shape=True)  # export the trunk with its head (small
    # pictures) and the any-shape trunk (large ones) into the cache: this process may import torch
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 2
    out = subprocess.run([sys.executable, "-c", UPRIGHT_PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "(2, 4) TORCH=False" in out.stdout, out.stdout + out.stderr
