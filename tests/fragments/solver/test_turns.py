"""rotations="auto": the solver decides from the bag alone whether its fragments are turned."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.data.embedded import demo_images
from unshuffle.errors import ConfigError
from unshuffle.evaluation.placement import score_solution
from unshuffle.fragments.bags.damage import apply_damage, parse_condition
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.solver.fragment_solver import FragmentSolver


@pytest.fixture(scope="module")
def photos():
    return demo_images(64)


@pytest.mark.parametrize("index", [0, 1])
def test_upright_photo_bag_is_kept_upright_and_solved_as_with_the_flag(photos, index):
    bag = FragmentSampler(photos, 6, 4, seed=3).sample(index)
    auto = FragmentSolver()  # the default is "auto"
    sol = auto.solve(bag.fragments)
    assert auto.rotations_ is False
    assert sol.settings["rotations"] == "auto" and sol.settings["rotations_used"] is False
    assert sol.settings["turn_evidence"]["upright_loops_per_piece"] > 0.3
    forced = FragmentSolver(rotations=False).solve(bag.fragments)
    assert np.array_equal(sol.group, forced.group) and np.array_equal(sol.row, forced.row)
    assert np.array_equal(sol.col, forced.col)


@pytest.mark.parametrize("index", [0, 1])
def test_turned_photo_bag_is_detected_and_solved(photos, index):
    bag = apply_damage(FragmentSampler(photos, 6, 4, seed=3).sample(index), parse_condition("rotation"), 0, index)
    assert (bag.turn != 0).mean() > 0.5
    auto = FragmentSolver()
    sol = auto.solve(bag.fragments)
    evidence = sol.settings["turn_evidence"]
    assert auto.rotations_ is True and sol.settings["rotations_used"] is True
    assert evidence["upright_loops_per_piece"] < 0.3 and evidence["same_turn_share"] < 0.5
    assert score_solution(bag, sol, rotations=True)["ari"] > 0.9


def test_pieces_turned_all_alike_count_as_upright(photos):
    """A bag whose fragments are all turned by one quarter turn is a bag of turned photos: upright pieces."""
    bag = FragmentSampler(photos, 4, 4, seed=1).sample(0)
    turned = np.ascontiguousarray(np.rot90(bag.fragments, 1, axes=(1, 2)))
    solver = FragmentSolver()
    solver.solve(turned)
    assert solver.rotations_ is False


def test_rotations_must_be_a_bool_or_auto():
    with pytest.raises(ConfigError, match="rotations must be True, False or 'auto'"):
        FragmentSolver(rotations="yes").validate_params()
