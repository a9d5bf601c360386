"""`unshuffle fragments cut` on a user's photos: refusals name the command's flags, not the library's parameters."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from unshuffle.cli.main import main


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a.png": (35, 50), "b.png": (40, 40)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / name)
    return folder


@pytest.mark.parametrize("data, flags, says", [
    ("", ["--grid", "4"], "--images-per-sample 10 but"),  # default: 10 images, the folder holds 2
    ("", ["--images-per-sample", "2", "--grid", "5"], "pass --image-size S to centre-crop and resize them"),
    ("", ["--images-per-sample", "2", "--grid", "4"], "not divisible by --grid 4"),  # a.png (35 px) is first
    ("a.png", ["--images-per-sample", "1", "--grid", "5"], "must be square"),
    ("", ["--images-per-sample", "2", "--grid", "0", "--image-size", "32"], "--grid must be >= 1"),
    ("", ["--images-per-sample", "2", "--image-size", "32", "--index", "-1"], "--index must be >= 0"),
])
def test_cut_refusals_name_the_flags(photos, tmp_path, capsys, data, flags, says):
    assert main(["fragments", "cut", str(photos / data), "--out", str(tmp_path / "bag"), *flags]) == 1
    err = capsys.readouterr().err
    assert says in err and "_" not in err.replace(str(tmp_path), "")  # no images_per_sample, no size=S
    if "square" in says or "divisible" in says:
        assert "--image-size S" in err
    assert not (tmp_path / "bag").exists()


def test_cut_with_image_size_works_on_the_same_photos(photos, tmp_path):
    assert main(["fragments", "cut", str(photos), "--out", str(tmp_path / "bag"), "--images-per-sample", "2",
                 "--grid", "4", "--image-size", "32"]) == 0
    assert len(list((tmp_path / "bag").glob("*.png"))) == 32
