"""What the solver estimated or decided is reported; hints that conflict with the bag are warned about."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from unshuffle.cli.main import main
from unshuffle.data.embedded import demo_images
from unshuffle.fragments.bags.folders import write_bag
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.solver.fragment_solver import FragmentSolver
from unshuffle.fragments.solver.solve import solve_fragment_folder


@pytest.fixture(scope="module")
def bag():
    return FragmentSampler(demo_images(64), 4, 4, seed=5).sample(0)  # 4 photos, 4x4 fragments each


def test_groups_json_records_the_estimates_and_what_was_given(bag, tmp_path):
    write_bag(bag, tmp_path / "bag", seed=0)
    summary = solve_fragment_folder(tmp_path / "bag", tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "groups.json").read_text())
    s = doc["settings"]
    assert s["n_images"] == summary["groups"] == 4 and s["n_images_given"] is False
    assert s["grid"] == [4, 4] and s["grid_given"] is False
    assert s["rotations_used"] is False and s["given"] == {"n_images": None, "grid": None, "rotations": "auto",
                                                          "seed": 0}
    assert s["warnings"] == []
    assert all(0 <= g["confidence"] <= 1 and g["size"] == 16 for g in doc["groups"])
    assert (tmp_path / "out" / "overview.png").is_file()


def test_cli_prints_the_estimates(bag, tmp_path, capsys):
    write_bag(bag, tmp_path / "bag", seed=0)
    assert main(["fragments", "solve", str(tmp_path / "bag"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "images: 4 (estimated)" in out and "grid per image: 4x4 (estimated)" in out
    assert "fragments turned: no (decided from the bag)" in out and "group 3: 4x4 cells, confidence" in out


def test_a_grid_hint_whose_seams_are_worse_than_the_own_estimate_is_warned(bag):
    with pytest.warns(UserWarning, match=r"grid=2: its seams look wrong .* own estimate 4x4"):
        solver = FragmentSolver(grid=2)
        solver.solve(bag.fragments)
    assert solver.solution_.settings["warnings"] and "grid=2" in solver.solution_.settings["warnings"][0]


def test_a_count_the_fragments_cannot_fit_is_warned(bag):
    with pytest.warns(UserWarning, match=r"n_images=2: 2 images of 4x4 fragments hold at most 32 fragments, "
                                         r"but the bag has 64"):
        FragmentSolver(n_images=2, grid=4).solve(bag.fragments)


def test_a_grid_far_larger_than_the_bag_is_warned(bag):
    with pytest.warns(UserWarning, match=r"grid=64: one image of 64x64 fragments has 4096 cells, but the bag has "
                                         r"only 64 fragments \(2% of one image"):
        FragmentSolver(grid=64).solve(bag.fragments)
    with pytest.warns(UserWarning, match=r"grid=64: one image of 64x64"):  # the growing placer checks it too
        FragmentSolver(grid=64, n_images=1, placer="grow").solve(bag.fragments)


def test_right_hints_give_no_warning(bag, recwarn):
    FragmentSolver(n_images=4, grid=4).solve(bag.fragments)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_cli_names_the_flag_in_the_warning(bag, tmp_path, capsys):
    write_bag(bag, tmp_path / "bag", seed=0)
    main(["fragments", "solve", str(tmp_path / "bag"), "--out", str(tmp_path / "out"), "--grid", "2"])
    assert "warning: --grid=2: its seams look wrong" in capsys.readouterr().err


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_get_the_users_umask(bag, tmp_path, umask):
    write_bag(bag, tmp_path / "bag", seed=0)
    old = os.umask(umask)
    try:
        solve_fragment_folder(tmp_path / "bag", tmp_path / "out")
    finally:
        os.umask(old)
    out = tmp_path / "out"
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f.name


def test_overview_marks_doubtful_fragments():
    from unshuffle.fragments.bags.solution import MARK_RED, Solution, assemble_group, doubtful

    frags = np.full((3, 4, 4, 3), 100, np.uint8)
    sol = Solution(np.zeros(3, np.int64), np.zeros(3, np.int64), np.arange(3), np.zeros(3, np.int64),
                   np.array([0.8, 0.6, 0.2]), [(1, 3)])
    low = doubtful(sol)  # below half the median (0.6)
    assert low.tolist() == [False, False, True]
    canvas = assemble_group(frags, sol, 0, marked=low)
    assert (canvas[0, 8] == MARK_RED).all() and (canvas[1, 9] == 100).all() and (canvas[0, 0] == 100).all()


def test_an_estimated_frame_no_group_has_is_said_to_differ_from_the_groups():
    """An 18 x 27 puzzle solved under the estimated square frame 27 x 27 printed "grid per image: 27x27
    (estimated)", as if the photo were 27 x 27 pieces; now the line says the groups' sizes differ (not
    "at most": a bag of a landscape and a portrait photo records one of their frames)."""
    from unshuffle.fragments.bags.solution_report import decision_lines

    est = {"grid": [27, 27], "grid_given": False}
    assert decision_lines(est, [(18, 27)]) == [
        "grid per image: 27x27 (estimated frame; the groups' own sizes differ, given with each)"]
    assert decision_lines(est, [(27, 27)]) == decision_lines(est) == ["grid per image: 27x27 (estimated)"]
    assert decision_lines({"grid": [27, 27], "grid_given": True}, [(18, 27)]) == ["grid per image: 27x27 (given)"]
    # turned fragments: a group may grow in any quarter turn, so (27, 18) in an (18, 27) frame is that frame
    turned = {"grid": [18, 27], "grid_given": False, "rotations_used": True}
    def grid_line(settings):
        return next(line for line in decision_lines(settings, [(27, 18)]) if line.startswith("grid per image"))

    assert grid_line(turned) == "grid per image: 18x27 (estimated)"
    assert grid_line({**turned, "rotations_used": False}).endswith("own sizes differ, given with each)")
