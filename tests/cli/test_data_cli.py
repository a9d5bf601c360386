"""Tests of `unshuffle data inspect`."""

from __future__ import annotations

import json

from data_trees import png, random_images, write_tree

from unshuffle.cli.main import main


def test_inspect_reports_counts_classes_and_skipped(tmp_path, capsys):
    imgs = random_images(5)
    write_tree(tmp_path / "d", {
        "train/a/0.png": png(imgs[0]), "train/a/1.png": png(imgs[1]), "train/b/2.png": png(imgs[2]),
        "train/a/.DS_Store": b"x", "train/b/notes.txt": b"x", "val/a/3.png": png(imgs[3]),
    })
    assert main(["data", "inspect", str(tmp_path / "d"), "--split", "train"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "folder" and info["images"] == 3 and info["classes"] == 2
    assert info["first_image_shape"] == [8, 8, 3]
    assert info["per_class"] == {"min": 1, "max": 2, "empty_classes": 0, "first": {"a": 2, "b": 1}}
    # two non-image files; the val image is not counted
    assert info["skipped_files"] == 2 and info["skipped_examples"] == ["train/a/.DS_Store", "train/b/notes.txt"]


def test_inspect_error_exits_nonzero(tmp_path, capsys):
    assert main(["data", "inspect", str(tmp_path / "missing")]) == 1
    assert "missing: does not exist" in capsys.readouterr().err
