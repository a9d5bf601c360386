"""Lightning training of the edge pair model: learns, resumes exactly, exports, runs under 2-process DDP."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from unshuffle.errors import ConfigError
from unshuffle.fragments.learned.pair_model import load_pair_model, pair_model_from_checkpoint
from unshuffle.fragments.learned.pair_training import PairTrainConfig, train_pair_model


@pytest.fixture
def image_file(tmp_path, smooth_images):
    path = tmp_path / "imgs.npz"
    imgs = np.concatenate([smooth_images, smooth_images[:, ::-1], smooth_images[:, :, ::-1]])[:, :32, :32]
    np.savez(path, images=np.ascontiguousarray(imgs))
    return path


def _cfg(data, out, **kw) -> PairTrainConfig:
    base = {"images_per_batch": 4, "pairs_per_image": 2, "fragment_size": 8, "steps_per_epoch": 3,
            "val_steps": 1, "max_epochs": 2, "width": 4, "dim": 8, "band": 3, "val_fraction": 0.2,
            "accelerator": "cpu", "progress": False}
    return PairTrainConfig(train_dir=str(data), output_dir=str(out), **{**base, **kw})


def _weights(ckpt) -> dict:
    return pair_model_from_checkpoint(ckpt).state_dict()


def test_resumed_training_equals_uninterrupted_and_exports(image_file, tmp_path):
    full = train_pair_model(_cfg(image_file, tmp_path / "full", export=str(tmp_path / "full.npz")))
    assert full["global_step"] == 6
    import lightning as L

    class StopAfterFirstEpoch(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            trainer.should_stop = True

    part = train_pair_model(_cfg(image_file, tmp_path / "part"), callbacks=[StopAfterFirstEpoch()])
    assert part["global_step"] == 3
    resumed = train_pair_model(_cfg(image_file, tmp_path / "part", resume="last"))
    assert resumed["global_step"] == 6
    a, b = _weights(full["last_checkpoint"]), _weights(resumed["last_checkpoint"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    exported = load_pair_model(tmp_path / "full.npz").state_dict()
    best = _weights(full["best_checkpoint"])
    assert all(torch.equal(exported[k], best[k]) for k in best)
    lines = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "val_loss" in lines[-1]


def test_training_lowers_the_contrastive_loss(image_file, tmp_path):
    res = train_pair_model(_cfg(image_file, tmp_path / "run", steps_per_epoch=20, max_epochs=3, lr=3e-3,
                                images_per_batch=8))
    import json

    losses = [json.loads(line)["train_loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0] - 0.2, losses
    assert res["val_top1"] > 1 / 16  # better than chance among the batch's 16 pairs


@pytest.mark.parametrize("field, value, match", [
    ("band", 9, "band"), ("lr", -1.0, "lr"), ("steps_per_epoch", 0, "steps_per_epoch"),
    ("val_fraction", 1.5, "val_fraction")])
def test_bad_settings_are_refused(tmp_path, field, value, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(tmp_path / "x.npz", tmp_path / "run", **{field: value}).validate()


def test_images_too_small_are_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "small.npz"
    np.savez(path, images=np.zeros((6, 12, 12, 3), np.uint8))
    with pytest.raises(ConfigError, match="too small"):
        train_pair_model(_cfg(path, tmp_path / "run"))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_and_export(image_file, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "unshuffle.cli.main", "fragments", "train-pairs", str(image_file), "--out", str(out),
           "--export", str(tmp_path / "ddp.npz"), "--images-per-batch", "4", "--pairs-per-image", "2",
           "--fragment-size", "8", "--steps-per-epoch", "4", "--val-steps", "1", "--max-epochs", "2",
           "--width", "4", "--dim", "8", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
           "--no-progress"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2  # logged once, by rank zero
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4  # 2 epochs x (4 steps over 2 processes)
    load_pair_model(tmp_path / "ddp.npz")
