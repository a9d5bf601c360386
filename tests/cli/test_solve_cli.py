"""Fragment folders on disk (write_bag, read_fragment_folder, groups.json) and the solve/score CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from unshuffle.data.embedded import demo_images
from unshuffle.data.imageset import from_array
from unshuffle.errors import ConfigError, DataFormatError, UnsafeFileError
from unshuffle.fragments.bags.folders import read_fragment_folder, write_bag
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.bags.solution import Solution
from unshuffle.fragments.bags.solution_io import read_solution_folder, write_solution_folder
from unshuffle.fragments.bags.truth import bag_from_truth, read_truth


@pytest.fixture
def bag(smooth_images):
    return FragmentSampler(from_array(smooth_images), 3, 4, seed=0).sample(1)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_write_bag_roundtrip(bag, tmp_path):
    out = write_bag(bag, tmp_path / "bag", seed=3)
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 49 and "truth.json" in names
    assert all(len(n) == 16 for n in names if n != "truth.json")  # 12 hex digits + ".png"
    files, grid, n_images, ids = read_truth(out / "truth.json")
    assert grid == (4, 4) and n_images == 3 and ids == bag.image_ids.tolist()
    folder = read_fragment_folder(out)
    assert folder.skipped == 1 and len(folder.files) == 48
    back = bag_from_truth(out / "truth.json", folder.files, folder.fragments)
    for i, f in enumerate(folder.files):  # each PNG holds exactly the fragment its truth entry names
        j = np.flatnonzero((bag.source == files[f]["source"]) & (bag.row == files[f]["row"])
                           & (bag.col == files[f]["col"]))[0]
        assert np.array_equal(folder.fragments[i], bag.fragments[j])
        assert back.source[i] == bag.source[j]
    assert sorted(p.name for p in write_bag(bag, tmp_path / "b2", seed=3).iterdir()) == names


def test_write_bag_refuses_existing_and_overwrites_atomically(bag, tmp_path):
    (tmp_path / "bag").mkdir()  # an earlier bag (it holds truth.json): --overwrite may replace it
    (tmp_path / "bag" / "keep.txt").write_text("x")
    (tmp_path / "bag" / "truth.json").write_text("{}")
    with pytest.raises(ConfigError, match="already exists"):
        write_bag(bag, tmp_path / "bag")
    assert (tmp_path / "bag" / "keep.txt").exists()
    write_bag(bag, tmp_path / "bag", overwrite=True)
    assert not (tmp_path / "bag" / "keep.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag"]  # no temporary leftovers


def test_read_folder_subfolders_and_archives(tmp_path):
    rng = np.random.default_rng(0)
    frags = rng.integers(0, 256, size=(3, 5, 5, 3), dtype=np.uint8)
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "b.png").write_bytes(_png(frags[0]))
    (d / "sub" / "a.PNG").write_bytes(_png(frags[1]))
    (d / "a.png").write_bytes(_png(frags[2]))
    (d / "notes.txt").write_text("hi")
    (d / ".hidden.png").write_bytes(b"junk")
    folder = read_fragment_folder(d)
    assert folder.files == ["a.png", "b.png", "sub/a.PNG"] and folder.skipped == 2
    assert np.array_equal(folder.fragments, frags[[2, 0, 1]])
    with zipfile.ZipFile(tmp_path / "in.zip", "w") as zf:
        for f in ["b.png", "sub/a.PNG", "a.png", "notes.txt"]:
            zf.write(d / f, f)
    z = read_fragment_folder(tmp_path / "in.zip")
    assert z.files == folder.files and np.array_equal(z.fragments, folder.fragments) and z.skipped == 1
    with tarfile.open(tmp_path / "in.tar.gz", "w:gz") as tf:
        tf.add(d, arcname="bag")
    t = read_fragment_folder(tmp_path / "in.tar.gz")
    assert t.files == ["bag/a.png", "bag/b.png", "bag/sub/a.PNG"] and np.array_equal(t.fragments, folder.fragments)


def test_read_folder_errors(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "a.png").write_bytes(_png(np.zeros((5, 5, 3), np.uint8)))
    (d / "b.png").write_bytes(_png(np.zeros((5, 4, 3), np.uint8)))
    with pytest.raises(DataFormatError, match=r"b\.png: fragment is not square: 5x4"):
        read_fragment_folder(d)
    (d / "b.png").write_bytes(_png(np.zeros((6, 6, 3), np.uint8)))
    with pytest.raises(DataFormatError, match=r"b\.png: fragment is 6x6 but a\.png is 5x5"):
        read_fragment_folder(d)
    (d / "b.png").write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match=r"b\.png: not a readable image"):
        read_fragment_folder(d)
    e = tmp_path / "empty"
    e.mkdir()
    (e / "x.txt").write_text("x")
    with pytest.raises(DataFormatError, match=r"no fragment images found \(1 other files skipped\)"):
        read_fragment_folder(e)
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("ok.png", _png(np.zeros((5, 5, 3), np.uint8)))
        zf.writestr("../evil.png", _png(np.zeros((5, 5, 3), np.uint8)))
    with pytest.raises(UnsafeFileError, match=r"member '\.\./evil\.png' points outside the archive"):
        read_fragment_folder(tmp_path / "evil.zip")
    with tarfile.open(tmp_path / "evil.tar", "w") as tf:
        info = tarfile.TarInfo("/abs.png")
        data = _png(np.zeros((5, 5, 3), np.uint8))
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(UnsafeFileError, match="absolute"):
        read_fragment_folder(tmp_path / "evil.tar")
    (tmp_path / "bag.rar").write_bytes(b"x")
    with pytest.raises(DataFormatError, match="expected a folder or a .zip"):
        read_fragment_folder(tmp_path / "bag.rar")


def _placed_solution(files: list[str]) -> Solution:
    m = len(files)
    group = np.array([0, 0, 1] + [1] * (m - 3))
    row = np.array([0, 0, 0] + list(range(1, m - 2)))
    col = np.array([0, 1, 0] + [0] * (m - 3))
    return Solution(group, row, col, np.array([0, 1, 2] + [0] * (m - 3)), np.linspace(0, 1, m),
                    [(1, 2), (m - 2, 1)], {"method": "hand", "rotations": True})


def test_groups_json_roundtrip_and_pictures(tmp_path):
    rng = np.random.default_rng(1)
    frags = rng.integers(0, 256, size=(4, 3, 3, 3), dtype=np.uint8)
    d = tmp_path / "in"
    d.mkdir()
    for i, f in enumerate(frags):
        (d / f"f{i}.png").write_bytes(_png(f))
    folder = read_fragment_folder(d)
    sol = _placed_solution(folder.files)
    out = write_solution_folder(tmp_path / "out", sol, folder.fragments, folder.files)
    doc = json.loads((out / "groups.json").read_text())
    assert doc["settings"] == {"method": "hand", "rotations": True}
    # the group's confidence is its fragments' mean: (0 + 1/3) / 2
    assert doc["groups"][0] == {"id": 0, "rows": 1, "cols": 2, "size": 2, "confidence": round(1 / 6, 4), "fragments": [
        {"file": "f0.png", "row": 0, "col": 0, "turn": 0, "confidence": 0.0},
        {"file": "f1.png", "row": 0, "col": 1, "turn": 1, "confidence": round(1 / 3, 6)}]}
    files, back = read_solution_folder(out)
    assert files == folder.files
    for k in ("group", "row", "col", "turn"):
        assert np.array_equal(getattr(back, k), getattr(sol, k))
    assert back.shapes == sol.shapes
    g0 = np.asarray(Image.open(out / "group_000.png"))
    assert g0.shape == (3, 6, 3)
    assert np.array_equal(g0[:, 3:], np.rot90(frags[1], k=1))
    g1 = np.asarray(Image.open(out / "group_001.png"))
    assert g1.shape == (6, 3, 3) and np.array_equal(g1[:3], np.rot90(frags[2], k=2))
    with pytest.raises(ConfigError, match="already exists"):
        write_solution_folder(tmp_path / "out", sol, folder.fragments, folder.files)


class TruthOracle:
    """A stand-in solver that reads the answer from truth.json (tests the I/O, not the solving).

    ``swap`` exchanges the cells of the first two fragments of image 0 (files in sorted order).
    """

    def __init__(self, truth_path, files, swap=False):
        self.truth, self.files, self.swap = json.loads(truth_path.read_text())["files"], files, swap

    def solve(self, fragments):
        t = [self.truth[f] for f in self.files]
        src = np.array([x["source"] for x in t])
        row, col = np.array([x["row"] for x in t]), np.array([x["col"] for x in t])
        if self.swap:
            a, b = np.flatnonzero(src == 0)[:2]
            row[[a, b]], col[[a, b]] = row[[b, a]], col[[b, a]]
        conf = np.full(len(t), 0.9)
        return Solution(src, row, col, np.zeros(len(t), np.int64), conf, [(4, 4)] * (src.max() + 1),
                        {"method": "oracle"})


def test_solve_then_score_roundtrip(bag, tmp_path):
    from unshuffle.fragments.bags.truth import score_solution_folder
    from unshuffle.fragments.solver.solve import solve_fragment_folder

    bag_dir = write_bag(bag, tmp_path / "bag", seed=0)
    files = read_fragment_folder(bag_dir).files
    summary = solve_fragment_folder(bag_dir, tmp_path / "sol", solver=TruthOracle(bag_dir / "truth.json", files))
    assert summary["fragments"] == 48 and summary["skipped"] == 1 and summary["groups"] == 3
    doc = json.loads((tmp_path / "sol" / "groups.json").read_text())
    assert sorted(f["file"] for g in doc["groups"] for f in g["fragments"]) == files
    assert doc["settings"]["method"] == "oracle" and doc["settings"]["rotations"] is False
    pngs = sorted(p.name for p in (tmp_path / "sol").glob("*.png"))
    assert pngs == ["group_000.png", "group_001.png", "group_002.png", "overview.png"]
    # a group picture is the source image itself
    truth = json.loads((bag_dir / "truth.json").read_text())
    src0 = next(v["source"] for v in truth["files"].values())
    img = np.asarray(Image.open(tmp_path / "sol" / f"group_{src0:03d}.png"))
    assert img.shape == (64, 64, 3)
    s = score_solution_folder(tmp_path / "sol", bag_dir / "truth.json")
    assert s["ari"] == s["placement_accuracy"] == s["perfect_rate"] == 1.0 and s["rotations"] is False
    with pytest.raises(ConfigError, match="already exists"):
        solve_fragment_folder(bag_dir, tmp_path / "sol", solver=TruthOracle(bag_dir / "truth.json", files))
    solve_fragment_folder(bag_dir, tmp_path / "sol", overwrite=True,
                          solver=TruthOracle(bag_dir / "truth.json", files, swap=True))
    s = score_solution_folder(tmp_path / "sol", bag_dir / "truth.json")
    assert s["placement_accuracy"] == 46 / 48 and s["perfect_rate"] == 2 / 3 and s["ari"] == 1.0


def test_score_cli_on_archive_input(bag, tmp_path, capsys):
    from unshuffle.cli.main import main
    from unshuffle.fragments.solver.solve import solve_fragment_folder

    bag_dir = write_bag(bag, tmp_path / "bag", seed=1)
    with tarfile.open(tmp_path / "bag.tar.gz", "w:gz") as tf:
        tf.add(bag_dir, arcname="bag")
    folder = read_fragment_folder(tmp_path / "bag.tar.gz")
    assert folder.files[0].startswith("bag/")
    oracle = TruthOracle(bag_dir / "truth.json", [f.removeprefix("bag/") for f in folder.files])
    solve_fragment_folder(tmp_path / "bag.tar.gz", tmp_path / "sol", solver=oracle)
    capsys.readouterr()
    assert main(["fragments", "score", str(tmp_path / "sol"), str(bag_dir / "truth.json"),
                 "--out", str(tmp_path / "scores.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["perfect_rate"] == 1.0 and printed["confidence_auroc"] is None
    assert json.loads((tmp_path / "scores.json").read_text())["ari"] == 1.0
    # errors reach the user as one line, exit code 1
    assert main(["fragments", "score", str(tmp_path / "nope"), str(bag_dir / "truth.json")]) == 1
    assert "nope: no such file" in capsys.readouterr().err


def test_solve_cli_refuses_existing_out(tmp_path, capsys):
    from unshuffle.cli.main import main

    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    assert main(["fragments", "solve", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "already exists; pass --overwrite" in err and f"error: --out {tmp_path / 'out'} " in err  # the flag


def test_solve_cli_with_real_solver(bag, tmp_path):
    pytest.importorskip("unshuffle.fragments.solver", reason="the solver has not landed yet")
    from unshuffle.cli.main import main
    from unshuffle.fragments.bags.truth import score_solution_folder

    bag_dir = write_bag(bag, tmp_path / "bag", seed=2)
    assert main(["fragments", "solve", str(bag_dir), "--out", str(tmp_path / "sol"), "--n-images", "3",
                 "--grid", "4"]) == 0
    doc = json.loads((tmp_path / "sol" / "groups.json").read_text())
    assert sorted(f["file"] for g in doc["groups"] for f in g["fragments"]) == read_fragment_folder(bag_dir).files
    assert doc["settings"]["n_images"] == 3 and len(doc["groups"]) == 3
    s = score_solution_folder(tmp_path / "sol", bag_dir / "truth.json")
    assert s["ari"] == s["perfect_rate"] == 1.0  # three smooth synthetic images, clean cuts, N and g given
    # N and grid estimated: every fragment still appears exactly once
    assert main(["fragments", "solve", str(bag_dir), "--out", str(tmp_path / "sol2")]) == 0
    files, solution = read_solution_folder(tmp_path / "sol2")
    assert files == read_fragment_folder(bag_dir).files and solution.placed


def test_grouping_only_solution_folder_and_mode_conversion(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    grey = np.arange(16, dtype=np.uint8).reshape(4, 4)
    rgba = np.dstack([np.full((4, 4, 3), 9, np.uint8), np.zeros((4, 4), np.uint8)])
    Image.fromarray(grey, mode="L").save(d / "a.png")
    Image.fromarray(rgba, mode="RGBA").save(d / "b.png")
    folder = read_fragment_folder(d)
    assert np.array_equal(folder.fragments[0], np.repeat(grey[:, :, None], 3, axis=2))
    assert (folder.fragments[1] == 9).all()  # alpha dropped, colour kept
    sol = Solution.grouping_only(np.array([0, 0]), {"method": "kmeans"})
    out = write_solution_folder(tmp_path / "out", sol, folder.fragments, folder.files)
    doc = json.loads((out / "groups.json").read_text())
    assert doc["groups"] == [{"id": 0, "rows": None, "cols": None, "size": 2, "confidence": None, "fragments": [
        {"file": "a.png", "row": None, "col": None, "turn": 0, "confidence": None},
        {"file": "b.png", "row": None, "col": None, "turn": 0, "confidence": None}]}]
    files, back = read_solution_folder(out)
    assert files == ["a.png", "b.png"] and not back.placed and back.shapes == []
    sheet = np.asarray(Image.open(out / "group_000.png"))  # unplaced: tiled in order, 2 columns
    assert sheet.shape == (4, 8, 3) and np.array_equal(sheet[:, 4:], folder.fragments[1])


# runs ``python -m unshuffle.cli.main ARGS`` and reports at exit whether torch was ever imported
SOLVE_PROBE = """
import atexit, runpy, sys
atexit.register(lambda: print("TORCH=" + str("torch" in sys.modules)))
sys.argv = ["unshuffle", *sys.argv[1:]]
runpy.run_module("unshuffle.cli.main", run_name="__main__", alter_sys=True)
"""


def test_solve_cli_on_a_clean_bag_does_not_import_torch(tmp_path):
    """Clean photo bags never use the learned edge measure, so ``fragments solve`` starts without torch.
    (Photos, not the spline-smoothed test images: their image borders read as per-fragment JPEG.)"""
    from unshuffle.cli.main import main
    from unshuffle.data.embedded import demo_images

    np.savez(tmp_path / "images.npz", images=demo_images(64).images(np.arange(5)))
    assert main(["fragments", "cut", str(tmp_path / "images.npz"), "--out", str(tmp_path / "bag"),
                 "--images-per-sample", "3", "--grid", "4"]) == 0
    (tmp_path / "probe.py").write_text(SOLVE_PROBE)
    out = subprocess.run([sys.executable, str(tmp_path / "probe.py"), "fragments", "solve", str(tmp_path / "bag"),
                          "--out", str(tmp_path / "sol")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "TORCH=False" in out.stdout, out.stdout + out.stderr
    files, solution = read_solution_folder(tmp_path / "sol")
    assert files == read_fragment_folder(tmp_path / "bag").files and solution.placed


def test_score_accepts_a_plain_truth_mapping_with_turns(tmp_path):
    """A user's own cutter: {file: [image, row, col, turn]}, stored fragment = np.rot90(original, turn)."""
    from unshuffle.fragments.bags.truth import read_truth, score_solution_folder
    from unshuffle.fragments.solver.fragment_solver import FragmentSolver
    from unshuffle.fragments.solver.solve import solve_fragment_folder

    photos = demo_images(64)
    d = tmp_path / "mine"
    d.mkdir()
    mapping, rng = {}, np.random.default_rng(4)
    for img_name in ("astronaut", "coffee"):
        img = photos.image(list(photos.names).index(img_name))
        for r in range(4):
            for c in range(4):
                k = int(rng.integers(0, 4))
                name = f"{img_name}_{r}_{c}.png"
                Image.fromarray(np.ascontiguousarray(np.rot90(img[16 * r:16 * r + 16, 16 * c:16 * c + 16], k))).save(
                    d / name)
                mapping[name] = [img_name, r, c, k]
    (tmp_path / "truth.json").write_text(json.dumps(mapping))
    files, grid, n, ids = read_truth(tmp_path / "truth.json")
    assert grid == (4, 4) and n == 2 and ids == [0, 1]
    coffee = files["coffee_1_2.png"]
    assert coffee["source"] == 1 and coffee["turn"] == (-mapping["coffee_1_2.png"][3]) % 4
    solve_fragment_folder(d, tmp_path / "sol", FragmentSolver(rotations=True))
    s = score_solution_folder(tmp_path / "sol", tmp_path / "truth.json", fragments=d)
    assert s["ari"] == 1.0 and s["rotations"] is True and s["placement_accuracy"] > 0.9


@pytest.mark.parametrize("doc, match", [
    ({"a.png": [0, 1]}, "expected \\[image, row, col\\]"),
    ({"a.png": [0, -1, 0]}, "row and col must be >= 0"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_truth_mappings_name_the_problem(tmp_path, doc, match):
    from unshuffle.fragments.bags.truth import read_truth

    (tmp_path / "t.json").write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=match):
        read_truth(tmp_path / "t.json")


def _png16(frag: np.ndarray, depth: str, low: np.ndarray) -> bytes:
    """``frag`` (h, w, 3) uint8 as a 16-bit PNG holding v * 256 + ``low`` (random low bits, so the
    file uses all 16 bits and v >> 8 is the original): grey (Pillow I;16) or RGB (written by hand)."""
    if depth == "grey16":
        return _png(frag[..., 0].astype(np.uint16) * 256 + low[..., 0])
    import struct
    import zlib

    arr = frag.astype(np.uint16) * 256 + low
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in arr)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    h, w = arr.shape[:2]
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("depth", ["grey16", "rgb16"])
def test_16_bit_bags_of_real_photos_are_solved_exactly(tmp_path, capsys, depth):
    """Three 64 px photos cut 4 x 4, every fragment saved as a 16-bit PNG: `fragments solve`
    (N and grid estimated) regroups and places all 48 exactly, as it does the 8-bit bag."""
    from PIL import Image

    from unshuffle.cli.main import main
    from unshuffle.fragments.bags.truth import score_solution_folder

    photos = demo_images(64)
    if depth == "grey16":  # grey photos: the bag is what a grey 16-bit scan would give
        grey = np.stack([np.asarray(Image.fromarray(photos.image(i)).convert("L")) for i in range(len(photos))])
        photos = from_array(np.repeat(grey[..., None], 3, axis=3))
    # bags 4 (grey) and 1 (colour) are ones the solver gets exactly in 8 bits; it does not on every bag
    # (grey bags 0-3 of this sampler: 54-94 % of fragments placed)
    index = 4 if depth == "grey16" else 1
    bag8 = write_bag(FragmentSampler(photos, 3, 4, seed=0).sample(index), tmp_path / "bag8", seed=0)
    bag16 = tmp_path / "bag16"
    bag16.mkdir()
    rng = np.random.default_rng(1)
    for p in bag8.iterdir():
        if p.suffix == ".png":
            frag = np.asarray(Image.open(p).convert("RGB"))
            (bag16 / p.name).write_bytes(_png16(frag, depth, rng.integers(0, 256, frag.shape, dtype=np.uint16)))
        else:
            (bag16 / p.name).write_bytes(p.read_bytes())
    head = next(bag16.glob("*.png")).read_bytes()[24:26]  # IHDR bit depth and colour type
    assert head == (bytes([16, 0]) if depth == "grey16" else bytes([16, 2]))
    assert np.array_equal(read_fragment_folder(bag16).fragments, read_fragment_folder(bag8).fragments)
    for bag in (bag8, bag16):
        assert main(["fragments", "solve", str(bag), "--out", str(tmp_path / f"sol_{bag.name}")]) == 0
        s = score_solution_folder(tmp_path / f"sol_{bag.name}", bag / "truth.json")
        assert s["ari"] == s["placement_accuracy"] == s["perfect_rate"] == 1.0, (bag.name, s)
    capsys.readouterr()


def test_score_reads_the_solved_bag_when_the_truth_lies_elsewhere(bag, tmp_path, monkeypatch, capsys):
    """A cutter of one's own keeps its truth file beside the bag, not in it, often next to other bags
    (here one of 5 px pieces). Solved with a relative path from one folder and scored from another,
    score reads the fragments from the bag groups.json names (recorded as an absolute path), not from
    every image under the truth file's folder (which failed on the other bag's sizes)."""
    import shutil

    from unshuffle.cli.main import main
    from unshuffle.fragments.solver.solve import solve_fragment_folder

    work = tmp_path / "work"
    bag_dir = write_bag(bag, work / "bag", seed=0)
    shutil.move(bag_dir / "truth.json", work / "truth.json")
    (work / "other").mkdir()
    (work / "other" / "a.png").write_bytes(_png(np.zeros((5, 5, 3), np.uint8)))
    files = read_fragment_folder(bag_dir).files
    monkeypatch.chdir(work)
    solve_fragment_folder("bag", tmp_path / "sol", solver=TruthOracle(work / "truth.json", files, swap=True))
    assert json.loads((tmp_path / "sol" / "groups.json").read_text())["settings"]["input"] == str(bag_dir)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["fragments", "score", "sol", "work/truth.json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["placement_accuracy"] == 46 / 48
    assert [printed[k] for k in ("n_fragments", "n_images", "n_groups")] == [48, 3, 3]
    assert all(type(printed[k]) is int for k in ("n_fragments", "n_images", "n_groups"))  # "48", not "48.0"
    shutil.move(bag_dir, tmp_path / "moved")  # the bag gone: the truth file's folder, and the error says so
    assert main(["fragments", "score", "sol", "work/truth.json"]) == 1
    err = capsys.readouterr().err
    assert "a.png" in err and "read from the truth file's folder, work; to read them elsewhere pass --fragments" in err
    assert main(["fragments", "score", "sol", "work/truth.json", "--fragments", "moved"]) == 0
    # an older groups.json recorded the path as given ("bag"): relative, it is not trusted (it would be read
    # against today's folder, where another bag may have that name); the truth file's folder is read
    doc = json.loads((tmp_path / "sol" / "groups.json").read_text())
    doc["settings"]["input"] = "bag"
    (tmp_path / "sol" / "groups.json").write_text(json.dumps(doc))
    shutil.move(tmp_path / "moved", tmp_path / "bag")
    assert main(["fragments", "score", "sol", "work/truth.json"]) == 1
    assert "read from the truth file's folder, work" in capsys.readouterr().err


def test_overview_tiles_grow_when_there_are_few_groups(tmp_path):
    """One solved 768 x 504 puzzle was shown as a 160-px thumbnail; the tile is now 1024 px shared by the
    sheet's columns, 160 to 512 px: one group -> 512 px (sheet 1 x (512 + 8) + 8 = 528 px wide), 10
    groups in 4 columns -> 256 px each (4 x (256 + 8) + 8 = 1064), 36 in 6 columns -> 170."""
    from unshuffle.fragments.bags.solution_io import overview_cell

    assert [overview_cell(n) for n in (1, 2, 4, 5, 10, 36, 100)] == [512, 512, 512, 341, 256, 170, 170]
    frags = np.full((18 * 27, 28, 28, 3), 90, np.uint8)
    r, c = np.divmod(np.arange(18 * 27), 27)
    sol = Solution(np.zeros(18 * 27, np.int64), r, c, np.zeros(18 * 27, np.int64), np.ones(18 * 27), [(18, 27)])
    write_solution_folder(tmp_path / "one", sol, frags, [f"{i:03d}.png" for i in range(18 * 27)])
    assert Image.open(tmp_path / "one" / "overview.png").width == 528
    frags = np.full((160, 16, 16, 3), 90, np.uint8)
    r, c = np.divmod(np.arange(160) % 16, 4)
    sol = Solution(np.arange(160) // 16, r, c, np.zeros(160, np.int64), np.ones(160), [(4, 4)] * 10)
    write_solution_folder(tmp_path / "ten", sol, frags, [f"{i:03d}.png" for i in range(160)])
    assert Image.open(tmp_path / "ten" / "overview.png").width == 1064


def test_grid_flag_takes_rows_by_columns(tmp_path, capsys):
    """A non-square photo (chelsea's 96 x 160 px corner, 3 x 5 pieces of 32 px) can be described to the
    solver (the library took (rows, cols); the flag only took G x G); a malformed grid is refused by argparse,
    a zero by the solver."""
    import skimage.data

    from unshuffle.cli.main import main

    img = skimage.data.chelsea()[:96, :160]
    (tmp_path / "bag").mkdir()
    for k in range(15):
        r, c = divmod(k, 5)
        (tmp_path / "bag" / f"{(k * 7) % 15:02d}.png").write_bytes(_png(img[32 * r:32 * r + 32, 32 * c:32 * c + 32]))
    assert main(["fragments", "solve", str(tmp_path / "bag"), "--out", str(tmp_path / "sol"), "--grid", "3x5"]) == 0
    assert "grid per image: 3x5 (given)" in capsys.readouterr().out
    doc = json.loads((tmp_path / "sol" / "groups.json").read_text())
    assert doc["settings"]["grid"] == [3, 5] and doc["settings"]["grid_given"] is True
    for bad in ("3by5", "x", "3x5x2"):
        with pytest.raises(SystemExit) as e:
            main(["fragments", "solve", str(tmp_path / "bag"), "--out", str(tmp_path / "s2"), "--grid", bad])
        assert e.value.code == 2
    assert "expected G or RxC" in capsys.readouterr().err
    # well formed but not a grid: the solver's message, naming the flag (exit 1, nothing written)
    assert main(["fragments", "solve", str(tmp_path / "bag"), "--out", str(tmp_path / "s2"), "--grid", "0x5"]) == 1
    assert "--grid must be left out, an int >= 1 or (rows, cols)" in capsys.readouterr().err
    assert not (tmp_path / "s2").exists()
