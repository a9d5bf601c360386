"""Regression tests for the reliability review: fragment input decoding/archives/unreadable files,
TEMI heads loading, custom backbones named by a run folder, and solver errors naming the input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hostile import corpus as hc

from unshuffle.cli.main import main
from unshuffle.data import archives
from unshuffle.errors import CheckpointError, ConfigError, DataFormatError, UnsafeFileError
from unshuffle.fragments.bag_io import read_fragment_folder, solve_fragment_folder

# ---------------------------------------------------------------- fragments solve inputs


@pytest.mark.parametrize("kind", ["folder", "zip", "tar"])
def test_fragment_image_decompression_bomb_is_a_data_error(tmp_path, kind):
    files = {"ok.png": hc.png_bytes(np.zeros((8, 8, 3), np.uint8)), "bomb.png": hc.png_claiming(60000, 60000)}
    if kind == "folder":
        path = hc.write_files(tmp_path / "in", files)
    elif kind == "zip":
        path = hc.zip_of(tmp_path / "in.zip", files)
    else:
        path = hc.tar_of(tmp_path / "in.tar", files, mode="w")
    with pytest.raises(UnsafeFileError, match=r"bomb\.png: refusing a possible decompression bomb"):
        read_fragment_folder(path)


def test_fragments_solve_cli_reports_image_bomb_without_traceback(tmp_path, capsys):
    path = hc.write_files(tmp_path / "in", {"bomb.png": hc.png_claiming(60000, 60000)})
    assert main(["fragments", "solve", str(path), "--out", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    assert "bomb.png" in err and "decompression bomb" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", ["zip", "zip-lying", "tgz"])
def test_fragment_archive_compression_bombs_refused_before_unpacking(tmp_path, kind, monkeypatch):
    # 16 MiB bombs against a 1 MiB free allowance (the real one is 64 MiB); the lying zip declares 4 GiB
    if kind != "zip-lying":
        monkeypatch.setattr(archives, "EXPANSION_FREE_BYTES", hc.MiB)
    size = 16 * hc.MiB
    path = {"zip": lambda: hc.zip_bomb(tmp_path / "bomb.zip", size=size),
            "zip-lying": lambda: hc.zip_lying_size(tmp_path / "lying.zip", declared=4 * 2**30),
            "tgz": lambda: hc.tgz_bomb(tmp_path / "bomb.tar.gz", size=size)}[kind]()
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(UnsafeFileError, match=rf"{path.name}: member .* refusing a possible compression bomb"):
            read_fragment_folder(path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 4 * hc.MiB


def test_fragment_archives_with_small_compressible_members_still_read(tmp_path):
    blank = hc.png_bytes(np.zeros((64, 64, 3), np.uint8))
    for path in (hc.zip_of(tmp_path / "a.zip", {"a.png": blank, "b.png": blank}),
                 hc.tar_of(tmp_path / "a.tar.gz", {"a.png": blank, "b.png": blank})):
        assert read_fragment_folder(path).fragments.shape == (2, 64, 64, 3)


def test_unreadable_fragment_file_is_a_data_error(tmp_path, monkeypatch, capsys):
    img = hc.png_bytes(np.zeros((8, 8, 3), np.uint8))
    root = hc.write_files(tmp_path / "in", {"a.png": img, "b.png": img})
    real = Path.read_bytes

    def read_bytes(self):  # the tests run as root, so chmod 000 would not stop the read
        if self.name == "b.png":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(DataFormatError, match=r"b\.png: cannot read the file \(Permission denied\)"):
        read_fragment_folder(root)
    assert main(["fragments", "solve", str(root), "--out", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    assert "b.png" in err and "Permission denied" in err and "Traceback" not in err


def test_solver_config_errors_name_the_input(tmp_path, capsys):
    one_px = hc.png_bytes(np.zeros((1, 1, 3), np.uint8))
    root = hc.write_files(tmp_path / "tiny", {"a.png": one_px, "b.png": one_px})
    with pytest.raises(DataFormatError, match=rf"{root}: .*fragment size must be >= 2 px"):
        solve_fragment_folder(root, tmp_path / "out")
    assert main(["fragments", "solve", str(root), "--out", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    assert str(root) in err and ">= 2 px" in err
    assert not (tmp_path / "out").exists()
