"""Read-only (EACCES, EROFS) and full (ENOSPC) output and cache locations: found before long work starts,
reported as one line naming the location and the cause, never a traceback."""

from __future__ import annotations

import errno
import os
import shutil
from collections import namedtuple

import numpy as np
import pytest
from hostile import corpus as hc
from hostile import faults

from unshuffle.cli.main import main
from unshuffle.errors import OutputError
from unshuffle.runs.atomic import check_writable
from unshuffle.runs.checkpoints import save_checkpoint

CODES = {"EACCES": errno.EACCES, "EROFS": errno.EROFS}


def _images(root, n=6):
    rng = np.random.default_rng(0)
    return hc.write_files(root, {f"im{i}.png": hc.png_bytes(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
                                 for i in range(n)})


def _one_line_error(argv, capsys) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("where", ["cluster all --out", "cluster all --cache-dir", "fragments train --output-dir"])
def test_unwritable_output_or_cache_is_one_line_before_any_work(tmp_path, monkeypatch, capsys, write_backbone,
                                                               code, where):
    marker = tmp_path / "backbone-imported"
    write_backbone(tmp_path / "mods", "ro_backbone", marker)
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    imgs = _images(tmp_path / "imgs")
    target = tmp_path / ("cache" if "cache" in where else "out")
    target.mkdir()
    if where.startswith("cluster"):
        argv = ["cluster", "all", str(imgs), "--clusters", "2", "--backbone", "ro_backbone:make", "--out",
                str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    else:
        argv = ["fragments", "train", "--train-dir", str(imgs), "--output-dir", str(target), "--gpus", "0",
                "--no-progress", "--images-per-sample", "2"]
    faults.inject(monkeypatch, target, CODES[code])
    err = _one_line_error(argv, capsys)
    monkeypatch.undo()
    assert f"{target}: cannot write ({os.strerror(CODES[code]).lower()})" in err, err
    assert not marker.exists()  # refused before the backbone was even imported
    assert list(target.iterdir()) == []


def test_a_full_disk_is_found_before_work_starts(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10 ** 9, 10 ** 9, 4096))
    with pytest.raises(OutputError, match=r"out/run: cannot write \(no space left on device: 4096 bytes free\)"):
        check_writable(tmp_path / "out" / "run")


def test_disk_full_while_writing_a_checkpoint_says_so(tmp_path, monkeypatch):
    import torch

    faults.inject(monkeypatch, tmp_path, errno.ENOSPC, budget=100)
    with pytest.raises(OutputError, match=r"last\.ckpt: cannot write \(no space left on device\)"):
        save_checkpoint({"w": torch.ones(1000)}, tmp_path / "last.ckpt")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_disk_full_mid_training_is_one_line(tmp_path, monkeypatch, capsys):
    import lightning as L

    from unshuffle.clustering.config import load_config
    from unshuffle.clustering.train import train_temi

    class FillDisk(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.current_epoch == 1:
                faults.inject(monkeypatch, tmp_path / "run", errno.ENOSPC, budget=0)

    rng = np.random.default_rng(0)
    feats = rng.normal(size=(32, 8)).astype(np.float32)
    nbrs = np.stack([np.roll(np.arange(32), -k) for k in range(1, 5)], axis=1)
    cfg = load_config(overrides=["clusters=2", "head.n_heads=1", "head.hidden_dim=8", "head.bottleneck_dim=4",
                                 "optim.epochs=2", "optim.batch_size=16", "optim.warmup_epochs=0",
                                 "loss.teacher_temp_warmup_epochs=0", "knn=4", "accelerator=cpu"])
    with pytest.raises(OutputError, match="no space left on device") as e:
        train_temi(cfg, feats, nbrs, tmp_path / "run", callbacks=[FillDisk()])
    monkeypatch.undo()
    assert "unexpected pos" not in str(e.value) and str(tmp_path / "run") in str(e.value)
