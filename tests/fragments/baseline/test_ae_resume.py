"""Autoencoder training killed with SIGKILL mid-epoch and resumed equals an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from unshuffle.fragments.baseline.ae_training import AutoencoderTrainConfig, train_autoencoder

SCRIPT = Path(__file__).with_name("ae_kill_script.py")


def _cfg(data, out, **kw):
    return AutoencoderTrainConfig(
        train_dir=str(data), output_dir=str(out), val_fraction=0.25, images_per_sample=4, grid=4,
        batch_size=2, steps_per_epoch=5, val_steps=2, max_epochs=2, accelerator="cpu",
        progress=False, embedding_dim=8, width=8, checkpoint_every_n_steps=1, **kw)


@pytest.fixture
def one_thread():
    """Bitwise equality needs the same float summation order in every process: one thread each."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("kill_at", [3, 7])  # mid-epoch 0, mid-epoch 1
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path, smooth_images, kill_at):
    data = tmp_path / "imgs.npz"
    np.savez(data, images=np.ascontiguousarray(np.concatenate([smooth_images, smooth_images[:, ::-1]])[:, :32, :32]))
    ref = train_autoencoder(_cfg(data, tmp_path / "ref"))

    out = tmp_path / "killed"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), str(data), str(out), str(kill_at)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == kill_at  # refreshed after every step, whole despite the kill
    res = train_autoencoder(_cfg(data, out, resume="last"))

    assert res["global_step"] == ref["global_step"] == 10
    a = torch.load(ref["last_checkpoint"], weights_only=True)
    b = torch.load(res["last_checkpoint"], weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    for sa, sb in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values(),
                      strict=True):
        assert all(torch.equal(sa[k], sb[k]) for k in ("exp_avg", "exp_avg_sq"))
    ma = [json.loads(x) for x in (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()]
    mb = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in mb] == [m["epoch"] for m in ma] == [0, 1]
    assert [m["val_loss"] for m in mb] == [m["val_loss"] for m in ma]
    assert [m["step"] for m in mb] == [m["step"] for m in ma]
