"""Hostile environment: output folder not writable (EACCES) and disk full (ENOSPC), simulated by
failing the write path; missing and partial inputs; folders mixing images with other files.
Every case ends in a clear error (exit code 1, no traceback), no partial files, earlier output intact."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile import corpus as hc
from hostile import faults

from unshuffle.cli.main import main
from unshuffle.errors import UnshuffleError
from unshuffle.runs.atomic import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from unshuffle.runs.checkpoints import load_checkpoint, save_checkpoint

FAULTS = {"EACCES": errno.EACCES, "ENOSPC": errno.ENOSPC}


def _images_folder(root: Path, n: int = 4, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    return hc.write_files(root, {f"im{i}.png": hc.png_bytes(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
                                 for i in range(n)})


def _fail_clearly(argv: list[str], capsys) -> str:
    """Run the CLI: exit code 1 and one ``unshuffle: error:`` line, no traceback. Returns stderr."""
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 1, (rc, err)
    assert err.startswith("unshuffle: error: ") and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------- runs.atomic under write faults


def _writers(out: Path) -> dict:
    return {
        "json": (lambda: atomic_write_json(out / "r.json", {"new": "x" * 1000}), "r.json"),
        "text": (lambda: atomic_write_text(out / "r.txt", "new" * 1000), "r.txt"),
        "bytes": (lambda: atomic_write_bytes(out / "r.bin", os.urandom(5000)), "r.bin"),
        "checkpoint": (lambda: save_checkpoint({"w": torch.ones(5000)}, out / "last.ckpt"), "last.ckpt"),
    }


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("writer", ["json", "text", "bytes", "checkpoint"])
def test_atomic_writers_fail_clearly_and_keep_the_old_file(tmp_path, monkeypatch, fault, writer):
    out = tmp_path / "out"
    out.mkdir()
    call, name = _writers(out)[writer]
    (out / name).write_bytes(b"earlier output")
    faults.inject(monkeypatch, out, FAULTS[fault], budget=100)
    with pytest.raises(UnshuffleError, match=rf"{name}.*({os.strerror(FAULTS[fault]).lower()}|write failed)") as e:
        call()
    assert isinstance(e.value, OSError) or writer == "checkpoint"  # callers catching OSError still do
    monkeypatch.undo()
    assert sorted(os.listdir(out)) == [name], "a temporary file was left behind"
    assert (out / name).read_bytes() == b"earlier output"


@pytest.mark.parametrize("fault", FAULTS)
def test_atomic_dir_fails_clearly_and_keeps_the_old_folder(tmp_path, monkeypatch, fault):
    dest = tmp_path / "solved"
    dest.mkdir()
    (dest / "groups.json").write_text("earlier")
    faults.inject(monkeypatch, tmp_path, FAULTS[fault], budget=100)
    with pytest.raises(UnshuffleError, match=rf"solved.*{os.strerror(FAULTS[fault]).lower()}"):
        with atomic_dir(dest, overwrite=True) as tmp:
            (tmp / "groups.json").write_text("new" * 100)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["solved"] and os.listdir(dest) == ["groups.json"]
    assert (dest / "groups.json").read_text() == "earlier"


def test_atomic_writers_work_without_faults(tmp_path):
    """Control: the same calls succeed and replace the old content when nothing fails."""
    out = tmp_path / "out"
    out.mkdir()
    for call, name in _writers(out).values():
        (out / name).write_bytes(b"earlier output")
        call()
        assert (out / name).read_bytes() != b"earlier output"
    assert load_checkpoint(out / "last.ckpt")["w"].shape == (5000,)
    assert json.loads((out / "r.json").read_text()) == {"new": "x" * 1000}


# ---------------------------------------------------------------- the CLI commands that write


@pytest.fixture(scope="module")
def bag_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bag")
    src = _images_folder(root / "images")
    assert main(["fragments", "cut", str(src), "--out", str(root / "bag"), "--images-per-sample", "2",
                 "--grid", "2"]) == 0
    return root / "bag"


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("earlier", [False, True])
def test_cut_under_write_faults(tmp_path, monkeypatch, capsys, fault, earlier):
    src = _images_folder(tmp_path / "images")
    out = tmp_path / "outs" / "bag"
    out.mkdir(parents=True)
    if earlier:
        (out / "truth.json").write_text("earlier")
    else:
        out.rmdir()
    faults.inject(monkeypatch, tmp_path / "outs", FAULTS[fault])
    argv = ["fragments", "cut", str(src), "--out", str(out), "--images-per-sample", "2", "--grid", "2",
            "--overwrite"]
    err = _fail_clearly(argv, capsys)
    assert os.strerror(FAULTS[fault]).lower() in err
    monkeypatch.undo()
    assert os.listdir(tmp_path / "outs") == (["bag"] if earlier else [])
    if earlier:
        assert os.listdir(out) == ["truth.json"] and (out / "truth.json").read_text() == "earlier"


@pytest.mark.parametrize("fault", FAULTS)
def test_solve_under_write_faults(tmp_path, monkeypatch, capsys, bag_dir, fault):
    out = tmp_path / "outs" / "solved"
    out.mkdir(parents=True)
    (out / "groups.json").write_text("earlier")
    faults.inject(monkeypatch, tmp_path / "outs", FAULTS[fault])
    err = _fail_clearly(["fragments", "solve", str(bag_dir), "--out", str(out), "--overwrite"], capsys)
    assert os.strerror(FAULTS[fault]).lower() in err
    monkeypatch.undo()
    assert os.listdir(tmp_path / "outs") == ["solved"] and os.listdir(out) == ["groups.json"]
    assert (out / "groups.json").read_text() == "earlier"


@pytest.mark.parametrize("fault", FAULTS)
def test_evaluate_out_under_write_faults(tmp_path, monkeypatch, capsys, fault):
    src = _images_folder(tmp_path / "images")
    outs = tmp_path / "outs"
    outs.mkdir()
    (outs / "metrics.json").write_text("earlier")
    faults.inject(monkeypatch, outs, FAULTS[fault])
    err = _fail_clearly(["fragments", "evaluate", "--val-dir", str(src), "--with-baselines", "--num-samples", "2",
                         "--images-per-sample", "2", "--grid", "2", "--no-progress", "--out",
                         str(outs / "metrics.json")], capsys)
    assert "metrics.json" in err and os.strerror(FAULTS[fault]).lower() in err
    monkeypatch.undo()
    assert os.listdir(outs) == ["metrics.json"] and (outs / "metrics.json").read_text() == "earlier"


# ---------------------------------------------------------------- missing and partial inputs


def test_missing_and_partial_inputs(tmp_path, capsys, bag_dir):
    missing = str(tmp_path / "nowhere")
    out = str(tmp_path / "out")
    assert "nowhere" in _fail_clearly(["fragments", "solve", missing, "--out", out], capsys)
    assert "nowhere" in _fail_clearly(["fragments", "cut", missing, "--out", out], capsys)
    assert "nowhere" in _fail_clearly(["fragments", "evaluate", "--val-dir", missing, "--with-baselines",
                                       "--no-progress"], capsys)
    assert "nowhere" in _fail_clearly(["data", "inspect", missing], capsys)
    # a checkpoint cut short (a crash of a writer that did not write atomically)
    src = _images_folder(tmp_path / "images")
    good = tmp_path / "good.ckpt"
    save_checkpoint({"state_dict": {"model.w": torch.ones(1000)}, "config": {"model": {}}}, good)
    half = tmp_path / "half.ckpt"
    half.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    err = _fail_clearly(["fragments", "evaluate", "--val-dir", str(src), "--ckpt", str(half), "--num-samples", "1",
                         "--images-per-sample", "2", "--grid", "2", "--no-progress"], capsys)
    assert "half.ckpt: unreadable or truncated checkpoint" in err
    # a truth.json cut short
    truth = tmp_path / "truth.json"
    truth.write_text((bag_dir / "truth.json").read_text()[:100])
    assert main(["fragments", "solve", str(bag_dir), "--out", str(tmp_path / "solved")]) == 0
    capsys.readouterr()
    assert "truth.json: not a valid truth file" in _fail_clearly(
        ["fragments", "score", str(tmp_path / "solved"), str(truth), "--fragments", str(bag_dir)], capsys)
    assert not os.path.exists(out)


# ---------------------------------------------------------------- folders mixing images and other files


def test_mixed_folders_skip_and_count_other_files_and_name_corrupt_images(tmp_path, capsys, bag_dir):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for p in bag_dir.iterdir():
        (mixed / p.name).write_bytes(p.read_bytes())
    (mixed / "notes.txt").write_text("hello")
    (mixed / ".DS_Store").write_bytes(b"\0\1")
    assert main(["data", "inspect", str(mixed)]) == 0
    info = json.loads(capsys.readouterr().out)
    n_png = sum(p.suffix == ".png" for p in bag_dir.iterdir())
    # truth.json, notes.txt and .DS_Store: skipped and counted alike by inspect and by solve
    assert info["images"] == n_png and info["skipped_files"] == 3
    assert main(["fragments", "solve", str(mixed), "--out", str(tmp_path / "s1")]) == 0
    assert f"{n_png} fragments (3 non-image files skipped)" in capsys.readouterr().out
    (mixed / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    err = _fail_clearly(["fragments", "solve", str(mixed), "--out", str(tmp_path / "s2")], capsys)
    assert "mixed/zz_corrupt.png" in err and not (tmp_path / "s2").exists()
