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
from unshuffle.fragments.bags.folders import read_fragment_folder
from unshuffle.fragments.solver.solve import solve_fragment_folder

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
    import unshuffle.data.image_folder as image_folder

    real = image_folder.open_regular

    def open_regular(path):  # the tests run as root, so chmod 000 would not stop the read
        if Path(path).name == "b.png":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(image_folder, "open_regular", open_regular)
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


# ---------------------------------------------------------------- TEMI heads files


def _heads_file(path: Path, **changes) -> Path:
    import torch

    from unshuffle.clustering.heads import MultiHeadMLP
    from unshuffle.clustering.predict import MODEL_FORMAT
    from unshuffle.runs.checkpoints import save_checkpoint

    arch = {"in_dim": 48, "n_clusters": 3, "n_heads": 2, "hidden_dim": 8, "bottleneck_dim": 4}
    heads = MultiHeadMLP(**arch, seed=0)
    model = {"format": MODEL_FORMAT, "arch": arch, "state_dict": heads.state_dict(), "teacher_temp": 0.1,
             "record": {}}
    model.update(changes)
    path.mkdir(parents=True, exist_ok=True)
    save_checkpoint({k: v for k, v in model.items() if v is not None}, path / "model.pt")
    torch.manual_seed(0)
    return path


@pytest.mark.parametrize("damage", ["one-byte", "no-arch", "arch-not-a-dict", "bad-arch-value", "no-temp"])
def test_damaged_temi_heads_file_is_a_checkpoint_error(tmp_path, damage):
    from unshuffle.clustering.predict import TemiHeads

    run = tmp_path / "run"
    if damage == "one-byte":
        run.mkdir()
        (run / "model.pt").write_bytes(b"e")
    else:
        changes = {"no-arch": {"arch": None}, "arch-not-a-dict": {"arch": [1, 2]},
                   "bad-arch-value": {"arch": {"in_dim": 48, "n_clusters": 1}}, "no-temp": {"teacher_temp": None}}
        _heads_file(run, **changes[damage])
    with pytest.raises(CheckpointError, match=r"run/model\.pt: "):
        TemiHeads.load(run)


def test_good_temi_heads_file_loads(tmp_path):
    from unshuffle.clustering.predict import TemiHeads

    heads = TemiHeads.load(_heads_file(tmp_path / "run"))
    clusters, conf = heads.assign(np.zeros((5, 48), np.float32))
    assert clusters.shape == (5,) and conf.shape == (5,)


# ---------------------------------------------------------------- custom backbones named by a run folder

@pytest.fixture
def hostile_run(tmp_path, write_backbone):
    """A run folder whose model.pt names ``rf_factory_mod:make``, the module (writes a marker when
    imported), and a folder of 4 images."""
    from unshuffle.features.backbones import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec

    marker = tmp_path / "imported"
    write_backbone(tmp_path / "mods", "rf_factory_mod", marker)
    spec = BackboneSpec("rf_factory_mod:make", "custom", "rf_factory_mod:make", 32, 32, IMAGENET_MEAN,
                        IMAGENET_STD, 48, "bicubic", "custom")
    run = _heads_file(tmp_path / "run", record={"backbone": spec.to_dict()})
    imgs = hc.write_files(tmp_path / "imgs", {f"{i}.png": hc.png_bytes(np.full((40, 40, 3), 60 * i, np.uint8))
                                              for i in range(4)})
    return tmp_path, run, imgs, marker


def _predict_in_subprocess(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        import sys
        from unshuffle.cli.main import main
        rc = main({args!r})
        print("IMPORTED", "rf_factory_mod" in sys.modules)
        sys.exit(rc)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "mods"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_predict_refuses_a_custom_backbone_not_named_by_the_user(hostile_run):
    tmp_path, run, imgs, marker = hostile_run
    out = tmp_path / "pred.csv"
    proc = _predict_in_subprocess(tmp_path, ["cluster", "predict", str(run), str(imgs), "--out", str(out)])
    assert proc.returncode != 0
    assert "IMPORTED False" in proc.stdout
    assert "--backbone rf_factory_mod:make" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists() and not out.exists()
    # naming a different backbone is no confirmation either (nor the spec's display name for a custom kind)
    proc = _predict_in_subprocess(tmp_path, ["cluster", "predict", str(run), str(imgs), "--out", str(out),
                                             "--backbone", "other_mod:make"])
    assert proc.returncode != 0 and "IMPORTED False" in proc.stdout and "does not match" in proc.stderr
    assert not marker.exists() and not out.exists()


def test_predict_runs_a_custom_backbone_the_user_named(hostile_run):
    tmp_path, run, imgs, marker = hostile_run
    out = tmp_path / "pred.csv"
    proc = _predict_in_subprocess(tmp_path, ["cluster", "predict", str(run), str(imgs), "--out", str(out),
                                             "--backbone", "rf_factory_mod:make"])
    assert proc.returncode == 0, proc.stderr
    assert marker.exists() and len(out.read_text().splitlines()) == 5


def test_predict_library_refusal_names_what_to_pass(hostile_run, monkeypatch):
    from unshuffle.clustering.predict import predict_images

    tmp_path, run, imgs, marker = hostile_run
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))  # importable: only the check stops it
    with pytest.raises(UnsafeFileError, match=r"backbone='rf_factory_mod:make'"):
        predict_images(run, imgs, tmp_path / "pred.csv")
    assert not marker.exists() and "rf_factory_mod" not in sys.modules
    with pytest.raises(ConfigError, match="does not match"):
        predict_images(run, imgs, tmp_path / "pred.csv", backbone="efficientnet-lite0")
    assert not marker.exists()
