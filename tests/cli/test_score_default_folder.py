"""`fragments score` with a truth file kept outside the bag: the refusal says where the fragments were looked for."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from unshuffle.cli.main import main
from unshuffle.data.imageset import from_array
from unshuffle.errors import DataFormatError
from unshuffle.fragments.bags.folders import read_fragment_folder, write_bag
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.bags.solution import Solution
from unshuffle.fragments.bags.solution_io import write_solution_folder
from unshuffle.fragments.bags.truth import read_truth, score_solution_folder


@pytest.fixture
def work(smooth_images, tmp_path):
    """tmp/bag (fragments, truth.json), tmp/truth.json (a copy), tmp/photos/wide.png, tmp/sol (the truth solved)."""
    bag = write_bag(FragmentSampler(from_array(smooth_images), 2, 2, seed=0).sample(0), tmp_path / "bag", seed=0)
    shutil.copy(bag / "truth.json", tmp_path / "truth.json")
    (tmp_path / "photos").mkdir()
    Image.fromarray(np.zeros((30, 50, 3), np.uint8)).save(tmp_path / "photos" / "wide.png")
    folder = read_fragment_folder(bag)
    truth, *_ = read_truth(bag / "truth.json")
    rec = {k: np.array([truth[f][k] for f in folder.files]) for k in ("source", "row", "col")}
    sol = Solution(rec["source"], rec["row"], rec["col"], np.zeros(8, np.int64), np.ones(8), [(2, 2), (2, 2)])
    write_solution_folder(tmp_path / "sol", sol, folder.fragments, folder.files)
    return tmp_path


def test_truth_outside_the_bag_names_the_default_folder(work, capsys):
    with pytest.raises(DataFormatError, match=r"wide\.png: fragment is not square.*read from the truth file's "
                                              r"folder.*--fragments BAG"):
        score_solution_folder(work / "sol", work / "truth.json")
    assert main(["fragments", "score", str(work / "sol"), str(work / "truth.json")]) == 1
    err = capsys.readouterr().err
    assert f"folder, {work};" in err and "--fragments BAG" in err


def test_with_fragments_or_beside_the_bag_it_scores(work, capsys):
    s = score_solution_folder(work / "sol", work / "truth.json", fragments=work / "bag")
    assert s["placement_accuracy"] == s["ari"] == 1.0
    assert score_solution_folder(work / "sol", work / "bag" / "truth.json")["perfect_rate"] == 1.0
    (work / "photos" / "wide.png").unlink()  # a folder named by fragments= is refused without the hint
    with pytest.raises(DataFormatError) as e:
        score_solution_folder(work / "sol", work / "truth.json", fragments=work / "photos")
    assert "truth file's folder" not in str(e.value)
    assert main(["fragments", "score", str(work / "sol"), str(work / "truth.json"), "--fragments",
                 str(work / "bag")]) == 0
    assert json.loads(capsys.readouterr().out)["perfect_rate"] == 1.0


def test_a_truth_listing_deleted_fragments_scores_the_rest(work, capsys):
    from unshuffle.fragments.solver.solve import solve_fragment_folder

    assert score_solution_folder(work / "sol", work / "bag" / "truth.json")["truth_entries_not_in_bag"] == 0
    gone = sorted(p for p in (work / "bag").glob("*.png"))[:3]
    for p in gone:
        p.unlink()  # a user drops 3 of 8 pieces to try missing fragments
    solve_fragment_folder(work / "bag", work / "sol5")
    s = score_solution_folder(work / "sol5", work / "bag" / "truth.json")
    assert s["truth_entries_not_in_bag"] == 3 and 0.0 <= s["ari"] <= 1.0
