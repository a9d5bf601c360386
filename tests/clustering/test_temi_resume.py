"""TEMI training killed with SIGKILL mid-epoch and resumed equals an uninterrupted run (weights,
optimiser state, metrics.jsonl)."""

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from unshuffle.clustering.config import load_config
from unshuffle.clustering.train import NeighbourPairBatches, train_temi

SCRIPT = Path(__file__).with_name("temi_kill_script.py")
# 64 images, batch 16: 4 steps per epoch, 8 in all; last.ckpt refreshed after every step
TINY = ["clusters=3", "head.n_heads=2", "head.hidden_dim=16", "head.bottleneck_dim=8", "optim.epochs=2",
        "optim.batch_size=16", "optim.warmup_epochs=1", "loss.teacher_temp_warmup_epochs=1", "knn=4",
        "checkpoint_every=1", "checkpoint_every_steps=1", "accelerator=cpu", "seed=3"]


@pytest.fixture
def one_thread():
    """Bitwise equality needs the same float summation order in every process: one thread each."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def features(tmp_path):
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(64, 12, generator=g)
    f = torch.nn.functional.normalize(feats, dim=1)
    nbrs = (f @ f.T).fill_diagonal_(-2).topk(6, dim=1).indices
    path = tmp_path / "feats.npz"
    np.savez(path, feats=feats.numpy(), nbrs=nbrs.numpy())
    return path, feats.numpy(), nbrs.numpy()


def _metrics(run: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_batches_are_a_function_of_seed_epoch_and_step(features):
    _, feats, nbrs = features
    a = NeighbourPairBatches(torch.as_tensor(feats), torch.as_tensor(nbrs), 4, 16, seed=3)
    b = NeighbourPairBatches(torch.as_tensor(feats), torch.as_tensor(nbrs), 4, 16, seed=3)
    torch.manual_seed(123)  # the global RNG plays no part
    full = list(a)
    b.position = lambda: 2  # two steps of epoch 0 done
    assert len(a) == 4 and len(list(b)) == 2
    assert all(torch.equal(x, y) for p, q in zip(full[2:], b, strict=True) for x, y in zip(p, q, strict=True))
    b.position = lambda: 4  # epoch 1: another order
    assert not torch.equal(full[0][0], next(iter(b))[0])


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("kill_at", [2, 6])  # mid-epoch 0, mid-epoch 1
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path, features, kill_at):
    data, feats, nbrs = features
    ref = train_temi(load_config(overrides=TINY), feats, nbrs, tmp_path / "ref")

    out = tmp_path / "killed"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), str(data), str(out), str(kill_at), *TINY], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == kill_at  # refreshed after every step, whole despite the kill
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = train_temi(None, feats, nbrs, out, resume=True)
    assert not [w for w in caught if "not resumable" in str(w.message)]

    a = torch.load(tmp_path / "ref" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 8
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    for sa, sb in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values(),
                      strict=True):
        assert all(torch.equal(sa[k], sb[k]) for k in ("exp_avg", "exp_avg_sq", "step"))
    ma, mb = _metrics(tmp_path / "ref"), _metrics(out)
    assert [m["epoch"] for m in ma] == [0, 1]
    assert mb == ma
    assert (res["best_epoch"], res["best_head"], res["select_loss"]) == (
        ref["best_epoch"], ref["best_head"], ref["select_loss"])
