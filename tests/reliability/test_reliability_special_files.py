"""FIFOs, devices, sockets (and symlinks to them) named like images in an input folder are refused by
name before being opened, by every command that reads input; an empty input path is an error."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path

import numpy as np
import pytest
from hostile import corpus as hc

from unshuffle.cli.main import main
from unshuffle.data.image_folder import list_files
from unshuffle.errors import DataFormatError, UnsafeFileError


@contextlib.contextmanager
def _deadline(seconds: int):
    """Fail (instead of hanging the suite) when the body blocks, e.g. on opening a FIFO."""
    def fire(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    before = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)


def _folder_with(root: Path, kind: str) -> tuple[Path, str]:
    """Four 16 px PNGs plus ``x.png`` that is a FIFO, a socket, or a symlink to a FIFO / char device."""
    rng = np.random.default_rng(0)
    hc.write_files(root, {f"im{i}.png": hc.png_bytes(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
                          for i in range(4)})
    special = root / "x.png"
    if kind == "fifo":
        os.mkfifo(special)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(special))
        s.close()
    elif kind == "link-to-fifo":
        os.mkfifo(root.parent / "pipe")
        special.symlink_to(root.parent / "pipe")
    else:
        special.symlink_to("/dev/zero")
    return root, str(special)


@pytest.mark.parametrize("kind", ["fifo", "socket", "link-to-fifo", "link-to-device"])
def test_listing_refuses_special_files_by_name(tmp_path, kind):
    root, special = _folder_with(tmp_path / "in", kind)
    what = {"fifo": "named pipe", "socket": "socket", "link-to-fifo": "named pipe",
            "link-to-device": "character device"}[kind]
    with _deadline(20), pytest.raises(UnsafeFileError, match=f"x.png: is a {what}"):
        list_files(root)


def _argv(cmd: str, src: Path, tmp: Path) -> list[str]:
    out = str(tmp / "out")
    return {
        "fragments solve": ["fragments", "solve", str(src), "--out", out],
        "fragments cut": ["fragments", "cut", str(src), "--out", out],
        "fragments train": ["fragments", "train", "--train-dir", str(src), "--output-dir", out],
        "fragments train-pairs": ["fragments", "train-pairs", str(src), "--out", out],
        "data inspect": ["data", "inspect", str(src)],
        "cluster all": ["cluster", "all", str(src), "--clusters", "2", "--backbone", "fifo_mod:make", "--out", out,
                        "--cache-dir", str(tmp / "cache")],
        "cluster extract": ["cluster", "extract", str(src), "--backbone", "fifo_mod:make",
                            "--cache-dir", str(tmp / "cache")],
        "cluster predict": ["cluster", "predict", str(tmp / "run"), str(src), "--out", str(tmp / "p.csv"),
                            "--backbone", "fifo_mod:make"],
    }[cmd]


CMDS = ["fragments solve", "fragments cut", "fragments train", "fragments train-pairs", "data inspect",
        "cluster all", "cluster extract", "cluster predict"]


@pytest.mark.parametrize("cmd", CMDS)
def test_every_command_refuses_a_fifo_named_like_an_image(tmp_path, cmd, capsys, monkeypatch):
    from test_reliability_fixes import _heads_file

    from unshuffle.features.backbones import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec

    src, special = _folder_with(tmp_path / "in", "fifo")
    spec = BackboneSpec("fifo_mod:make", "custom", "fifo_mod:make", 32, 32, IMAGENET_MEAN, IMAGENET_STD, 48)
    _heads_file(tmp_path / "run", record={"backbone": spec.to_dict()})
    monkeypatch.setattr("sys.argv", ["unshuffle"])
    with _deadline(60):
        rc = main(_argv(cmd, src, tmp_path))
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err, err
    assert f"{special}: is a named pipe (FIFO), not a regular file; refusing to read it" in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("reader", ["open_images", "image_files"])
def test_an_empty_input_path_is_an_error(reader, tmp_path, monkeypatch):
    from unshuffle.data import open_images
    from unshuffle.data.files import image_files

    monkeypatch.chdir(tmp_path)  # would otherwise read the current folder
    with pytest.raises(DataFormatError, match="input path is empty"):
        {"open_images": open_images, "image_files": image_files}[reader]("")
