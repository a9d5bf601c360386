"""--overwrite replaces only an earlier output of the same command: never a file, never a folder of other files
(a photo folder given as --out by mistake), for solve, cut and the library writers."""

from __future__ import annotations

import pytest

from unshuffle.data.imageset import from_array
from unshuffle.errors import ConfigError
from unshuffle.fragments.bags.folders import write_bag
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.runs.atomic import atomic_dir, check_out_folder


@pytest.fixture
def bag(smooth_images):
    return FragmentSampler(from_array(smooth_images), 3, 4, seed=0).sample(1)


def test_overwrite_never_replaces_a_file(bag, tmp_path, capsys):
    """--overwrite replaces an earlier output folder; an --out naming a file (a mistyped truth.json) is
    refused by solve before it solves, and by cut, and the file is kept (it used to be deleted)."""
    from unshuffle.cli.main import main

    bag_dir = write_bag(bag, tmp_path / "bag", seed=0)
    keep = tmp_path / "truth_copy.json"
    keep.write_text("mine")
    assert main(["fragments", "solve", str(bag_dir), "--out", str(keep), "--overwrite"]) == 1
    assert "truth_copy.json is a file, not a folder" in capsys.readouterr().err
    assert main(["fragments", "solve", str(bag_dir), "--out", str(keep)]) == 1  # not "pass --overwrite"
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "already exists" not in err
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        write_bag(bag, keep, overwrite=True)
    assert keep.read_text() == "mine"


def test_overwrite_never_deletes_a_folder_of_other_files(bag, tmp_path, capsys):
    """A folder of photos given as --out with --overwrite is refused (before solving) and kept whole; an
    earlier solution folder (it holds groups.json) and an empty folder are replaced; cut likewise needs
    truth.json in a folder it replaces."""
    from unshuffle.cli.main import main

    bag_dir = write_bag(bag, tmp_path / "bag", seed=0)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"mine")
    assert main(["fragments", "solve", str(bag_dir), "--out", str(photos), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "not an earlier output" in err and "groups.json" in err
    assert sorted(p.name for p in photos.iterdir()) == ["holiday.jpg"]
    with pytest.raises(ConfigError, match="no truth.json"):
        write_bag(bag, photos, overwrite=True)
    assert (photos / "holiday.jpg").read_bytes() == b"mine"

    sol = tmp_path / "sol"
    assert main(["fragments", "solve", str(bag_dir), "--out", str(sol)]) == 0
    assert main(["fragments", "solve", str(bag_dir), "--out", str(sol), "--overwrite"]) == 0  # its own output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["fragments", "solve", str(bag_dir), "--out", str(empty), "--overwrite"]) == 0
    assert (empty / "groups.json").is_file() and (sol / "groups.json").is_file()
    write_bag(bag, bag_dir, overwrite=True)  # a bag folder holds truth.json
    assert (bag_dir / "truth.json").is_file() and len(list(bag_dir.glob("*.png"))) == len(bag)
    hidden = tmp_path / "hidden"  # only a Finder .DS_Store: as good as empty
    hidden.mkdir()
    (hidden / ".DS_Store").write_bytes(b"x")
    assert main(["fragments", "solve", str(bag_dir), "--out", str(hidden), "--overwrite"]) == 0
    assert (hidden / "groups.json").is_file()
    capsys.readouterr()


def test_demo_refuses_a_folder_of_other_files_before_working(tmp_path, monkeypatch):
    """The demo checks --out before it solves anything (the solver is never built) and keeps the folder."""
    from unshuffle.fragments import demo

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"mine")

    def no_solve(*a, **k):
        raise AssertionError("the demo solved before checking --out")

    monkeypatch.setattr(demo, "FragmentSolver", no_solve)
    with pytest.raises(ConfigError, match="no metrics.json"):
        demo.run_demo(photos, overwrite=True)
    assert sorted(p.name for p in photos.iterdir()) == ["holiday.jpg"]


def test_atomic_dir_marker_rule(tmp_path):
    """atomic_dir(marker=...) replaces a folder holding the marker, refuses one without it (contents
    kept), and without a marker keeps the old rule (any folder, with overwrite)."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "groups.json").write_text("{}")
    with atomic_dir(old, overwrite=True, marker="groups.json") as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in old.iterdir()) == ["new.txt"]
    with pytest.raises(ConfigError, match="no groups.json"):
        check_out_folder(old, overwrite=True, marker="groups.json")
    with atomic_dir(old, overwrite=True) as tmp:
        (tmp / "newer.txt").write_text("newer")
    assert sorted(p.name for p in old.iterdir()) == ["newer.txt"]


def test_a_run_folder_is_emptied_only_when_it_holds_an_unshuffle_run(tmp_path):
    """create_run(overwrite=True) clears an earlier run (its config.json a run record) but refuses a project
    folder that merely has a config.json of its own, leaving every file in place."""
    import json

    from unshuffle.errors import CheckpointError
    from unshuffle.runs.layout import create_run

    run = create_run(tmp_path / "run", {"a": 1})
    (run.path / "metrics.jsonl").write_text("{}\n")
    again = create_run(tmp_path / "run", {"a": 2}, overwrite=True)
    assert not (again.path / "metrics.jsonl").exists() and again.read_config()["config"] == {"a": 2}
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text(json.dumps({"name": "mine"}))
    (project / "notes.txt").write_text("keep")
    with pytest.raises(CheckpointError, match="not an unshuffle run record"):
        create_run(project, {"a": 1}, overwrite=True)
    assert sorted(p.name for p in project.iterdir()) == ["config.json", "notes.txt"]
