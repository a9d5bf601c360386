"""Real DDP: 2 CPU processes (gloo) draw disjoint bags whose union equals a one-process run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


def _train(data, out, devices, strategy):
    cmd = [sys.executable, "-m", "unshuffle.cli.main", "fragments", "train", "--train-dir", str(data),
           "--output-dir", str(out), "--val-fraction", "0.25", "--images-per-sample", "4",
           "--batch-size", "2", "--steps-per-epoch", "4", "--val-steps", "2", "--max-epochs", "2",
           "--embedding-dim", "8", "--accelerator", "cpu", "--devices", str(devices),
           "--strategy", strategy, "--record-samples", "--no-progress"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {p.stem: json.loads(p.read_text()) for p in (out / "drawn_samples").glob("rank*.json")}


@pytest.mark.slow
def test_ddp_two_cpu_processes_split_the_bags(tmp_path, smooth_images):
    data = tmp_path / "imgs.npz"
    imgs = np.concatenate([smooth_images, smooth_images[:, ::-1]])[:, :32, :32]
    np.savez(data, images=np.ascontiguousarray(imgs))
    ddp = _train(data, tmp_path / "ddp", 2, "ddp")
    single = _train(data, tmp_path / "single", 1, "auto")
    assert set(ddp) == {"rank0", "rank1"} and set(single) == {"rank0"}
    r0, r1 = set(ddp["rank0"]), set(ddp["rank1"])
    assert r0 and r1 and not r0 & r1
    assert sorted(r0 | r1) == single["rank0"] == list(range(16))  # 2 epochs x 4 steps x 2 bags
    # the DDP run trained, checkpointed and logged once (rank zero)
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert (tmp_path / "ddp" / "checkpoints" / "last.ckpt").is_file()
