"""Archives with a member name twice are refused by every reader, by `data inspect` and by
`fragments solve`, naming the member; `data inspect` says what it decoded and `--verify` decodes all."""

from __future__ import annotations

import io
import json
import tarfile
import warnings
import zipfile

import numpy as np
import pytest
from hostile import corpus as hc

from unshuffle.cli.main import main
from unshuffle.data import open_images
from unshuffle.errors import DataFormatError


def _pngs(n: int = 4) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {f"p{i}.png": hc.png_bytes(rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)) for i in range(n)}


def _duplicated(tmp_path, container: str, second: str = "p1.png"):
    """An archive with p0..p3.png, then another p1.png (or ``second``, e.g. ``./p1.png``) at the end."""
    members = [*_pngs().items(), (second, hc.png_bytes(np.zeros((8, 8, 3), np.uint8)))]
    path = tmp_path / f"bag.{container}"
    if container == "zip":
        with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
            warnings.simplefilter("ignore", UserWarning)  # zipfile's own "Duplicate name" warning
            for name, data in members:
                zf.writestr(name, data)
        return path
    mode = {"tar": "w", "tar.gz": "w:gz", "tar.xz": "w:xz"}[container]
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("container", ["tar", "tar.gz", "tar.xz", "zip"])
def test_duplicated_member_is_refused_by_every_reader_naming_it(tmp_path, capsys, container):
    path = _duplicated(tmp_path, container)
    with pytest.raises(DataFormatError, match=r"bag\.[a-z.]+: member 'p1\.png' appears more than once"):
        open_images(path)
    assert main(["data", "inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "member 'p1.png' appears more than once" in err
    assert main(["fragments", "solve", str(path), "--out", str(tmp_path / "solved")]) == 1
    err = capsys.readouterr().err
    assert "member 'p1.png' appears more than once" in err and not (tmp_path / "solved").exists()


def test_names_equal_after_cleaning_are_duplicates_and_unique_names_still_open(tmp_path):
    path = _duplicated(tmp_path, "tar", second="./p1.png")
    with pytest.raises(DataFormatError, match="member 'p1.png' appears more than once"):
        open_images(path)
    ok = hc.tar_of(tmp_path / "ok.tar", _pngs(), mode="w")
    assert len(open_images(ok)) == 4


def test_inspect_says_it_decoded_only_the_first_image(tmp_path, capsys):
    files = {**_pngs(), "p2.png": b"\x89PNG\r\n\x1a\n broken", "p3.png": b""}
    root = hc.write_files(tmp_path / "in", files)
    assert main(["data", "inspect", str(root)]) == 0  # p0 decodes; the broken ones are not looked at
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 4 and info["decoded"].startswith("first image only") and "--verify" in info["decoded"]
    assert "undecodable" not in info


@pytest.mark.parametrize("container", ["folder", "zip", "tar.gz"])
def test_inspect_verify_decodes_every_image_and_names_failures(tmp_path, capsys, container):
    files = {**_pngs(), "p2.png": b"\x89PNG\r\n\x1a\n broken", "p3.png": b""}
    if container == "folder":
        path = hc.write_files(tmp_path / "in", files)
    elif container == "zip":
        path = hc.zip_of(tmp_path / "in.zip", files)
    else:
        path = hc.tar_of(tmp_path / "in.tar.gz", files)
    assert main(["data", "inspect", str(path), "--verify"]) == 1
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    assert info["decoded"] == "all images" and info["undecodable"] == 2 and info["first_image_shape"] == [8, 8, 3]
    assert [e["name"] for e in info["undecodable_examples"]] == ["p2.png", "p3.png"]
    assert all(e["reason"] for e in info["undecodable_examples"])
    assert captured.err.count("\n") == 1 and "2 of 4 images could not be decoded (first: p2.png: " in captured.err
    good = hc.write_files(tmp_path / "good", _pngs())
    assert main(["data", "inspect", str(good), "--verify"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["undecodable"] == 0 and info["undecodable_examples"] == []


def test_inspect_verify_reports_an_undecodable_first_image(tmp_path, capsys):
    root = hc.write_files(tmp_path / "in", {"a.png": b"junk", **_pngs(2)})
    assert main(["data", "inspect", str(root)]) == 1  # without --verify the first image is decoded, and fails
    assert "a.png" in capsys.readouterr().err
    assert main(["data", "inspect", str(root), "--verify"]) == 1
    info = json.loads(capsys.readouterr().out)
    assert info["undecodable"] == 1 and info["undecodable_examples"][0]["name"] == "a.png"
