"""What a user reads: `fragments cut` and `solve` refusals name the command's flags in its words; --damage; plurals."""

from __future__ import annotations

import json

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


def test_cut_with_damage_turns_and_drops_fragments_and_records_them(tmp_path):
    photos = tmp_path / "sq"
    photos.mkdir()
    rng = np.random.default_rng(1)
    originals = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    for i, img in enumerate(originals):
        Image.fromarray(img).save(photos / f"p{i}.png")
    out = tmp_path / "bag"
    assert main(["fragments", "cut", str(photos), "--out", str(out), "--images-per-sample", "2", "--grid", "4",
                 "--damage", "rotation+missing=0.25"]) == 0
    truth = json.loads((out / "truth.json").read_text())
    assert truth["damage"] == "rotation+missing=0.25" and truth["image_ids"] == [0, 1]
    assert len(truth["files"]) == len(list(out.glob("*.png"))) == 24  # 32 fragments, 8 dropped
    turns = [t["turn"] for t in truth["files"].values()]
    assert set(turns) == {0, 1, 2, 3}
    for name, t in truth["files"].items():  # np.rot90(stored, turn) is the original piece
        stored = np.asarray(Image.open(out / name))
        r, c = t["row"], t["col"]
        assert np.array_equal(np.rot90(stored, t["turn"]), originals[t["source"]][8 * r:8 * r + 8, 8 * c:8 * c + 8])


def test_cut_refuses_a_bench_only_or_unknown_damage(photos, tmp_path, capsys):
    for spec, says in (("unknown-n", "bench setting"), ("spin", "unknown condition 'spin'")):
        assert main(["fragments", "cut", str(photos), "--out", str(tmp_path / "bag"), "--images-per-sample", "2",
                     "--image-size", "32", "--damage", spec]) == 1
        assert says in capsys.readouterr().err and not (tmp_path / "bag").exists()


def test_cut_refuses_damage_that_leaves_fewer_than_two_fragments(photos, tmp_path, capsys):
    assert main(["fragments", "cut", str(photos / "b.png"), "--out", str(tmp_path / "bag"), "--images-per-sample", "1",
                 "--grid", "2", "--damage", "missing=0.9"]) == 1
    err = capsys.readouterr().err
    assert "--damage missing=0.9 leaves 0 fragment(s)" in err and not (tmp_path / "bag").exists()


def test_solve_says_one_group_and_one_skipped_file_in_the_singular(tmp_path, capsys):
    photos = tmp_path / "one"
    photos.mkdir()
    yy, xx = np.mgrid[0:32, 0:32]
    img = np.stack([yy * 8, xx * 8, (yy + xx) * 4], axis=-1).astype(np.uint8)  # one smooth image
    Image.fromarray(img).save(photos / "p.png")
    assert main(["fragments", "cut", str(photos), "--out", str(tmp_path / "bag"), "--images-per-sample", "1",
                 "--grid", "2"]) == 0
    capsys.readouterr()
    assert main(["fragments", "solve", str(tmp_path / "bag"), "--out", str(tmp_path / "sol"), "--n-images", "1"]) == 0
    assert "4 fragments (1 non-image file skipped) -> 1 group in " in capsys.readouterr().out


@pytest.mark.parametrize("flags, says", [(["--n-images", "0"], "--n-images must be left out or an int >= 1, got 0"),
                                         (["--grid", "0"], "--grid must be left out, an int >= 1 or (rows, cols)")])
def test_solve_refusals_say_left_out_not_none(tmp_path, capsys, flags, says):
    (tmp_path / "bag").mkdir()
    assert main(["fragments", "solve", str(tmp_path / "bag"), "--out", str(tmp_path / "sol"), *flags]) == 1
    err = capsys.readouterr().err
    assert says in err and "None" not in err
