"""An output folder that is, holds or lies inside the input is refused before anything is read or replaced."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from unshuffle.cli.main import main
from unshuffle.data.imageset import from_array
from unshuffle.errors import ConfigError
from unshuffle.fragments.bags.folders import write_bag
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.solver.solve import solve_fragment_folder
from unshuffle.runs.atomic import check_apart


def _listing(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def bag_dir(smooth_images, tmp_path):
    bag = FragmentSampler(from_array(smooth_images), 2, 4, seed=0).sample(0)
    return write_bag(bag, tmp_path / "work" / "bag", seed=1)


def test_check_apart_cases(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    check_apart(tmp_path / "a" / "b", tmp_path / "a" / "c")  # siblings: fine
    check_apart(tmp_path / "a" / "b.zip", tmp_path / "a" / "b")  # an archive and a folder of its stem: fine
    with pytest.raises(ConfigError, match="is the input"):
        check_apart(tmp_path / "a" / "b", tmp_path / "a" / "b" / ".")
    with pytest.raises(ConfigError, match="holds the input"):
        check_apart(tmp_path / "a" / "b", tmp_path / "a")
    with pytest.raises(ConfigError, match="inside the input"):
        check_apart(tmp_path / "a", tmp_path / "a" / "b" / "solved")
    (tmp_path / "loop").symlink_to("loop")  # a link loop is left for the reader to name
    check_apart(tmp_path / "loop", tmp_path / "out")


def test_check_apart_compares_files_not_only_names(tmp_path, monkeypatch):
    """Another spelling of the same folder (as `BAG` is `bag` on a case-insensitive disk): simulated by a link
    that realpath is kept from resolving, so only the file comparison can tell."""
    import os

    (tmp_path / "bag").mkdir()
    (tmp_path / "BAG").symlink_to(tmp_path / "bag")
    monkeypatch.setattr(os.path, "realpath", lambda p: os.path.abspath(p))
    with pytest.raises(ConfigError, match="is the input"):
        check_apart(tmp_path / "bag", tmp_path / "BAG")
    with pytest.raises(ConfigError, match="inside the input"):
        check_apart(tmp_path / "bag", tmp_path / "BAG" / "solved")  # not there yet: its parent is the input
    check_apart(tmp_path / "bag", tmp_path / "BAG2")  # a sibling of another name: fine


@pytest.mark.parametrize("out", ["bag", ".", "bag/solved"])
def test_solve_refuses_out_overlapping_the_bag_and_keeps_it(bag_dir, out):
    work = bag_dir.parent
    before = _listing(work)
    with pytest.raises(ConfigError, match="input"):
        solve_fragment_folder(bag_dir, work / out, overwrite=True)
    assert _listing(work) == before  # before the fix, out=bag replaced the fragments by the solution


def test_solve_cli_names_the_clash(bag_dir, capsys):
    assert main(["fragments", "solve", str(bag_dir), "--out", str(bag_dir), "--overwrite"]) == 1
    assert "writing it would replace the input" in capsys.readouterr().err
    assert (bag_dir / "truth.json").exists() and len(list(bag_dir.glob("*.png"))) == 32


def test_cut_refuses_out_that_is_the_photo_folder(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    assert main(["fragments", "cut", str(photos), "--out", str(photos), "--overwrite",
                 "--images-per-sample", "2", "--grid", "2"]) == 1
    assert "would replace the input" in capsys.readouterr().err
    assert _listing(photos) == ["p0.png", "p1.png"]


@pytest.mark.parametrize("out, clusters", [(".", "2"), ("run", "2"), ("run", "auto"), ("", "2")])
def test_cluster_refuses_a_run_folder_in_or_around_the_data(tmp_path, capsys, out, clusters):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(data / f"p{i}.png")
    where = {".": data, "run": data / "run", "": tmp_path}[out]
    for cmd in ("all", "train"):
        assert main(["cluster", cmd, str(data), "--clusters", clusters, "--backbone", "efficientnet-lite0",
                     "--out", str(where), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 1
        assert "input" in capsys.readouterr().err
        assert _listing(data) == [f"p{i}.png" for i in range(4)]  # before: run files (and plots/*.png) in the data
