"""Every trainer, killed with SIGKILL at fixed points with default checkpoint settings (mid-epoch, right
after an epoch, during a last.ckpt write) and once from outside at a random moment, resumes with
--resume to the weights, optimiser state and metrics of an uninterrupted run (bitwise, CPU, 1 thread)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from kill_train_configs import EPOCHS, STEPS, make_data, run_trainer  # noqa: E402

SCRIPT = Path(__file__).with_name("kill_train_script.py")
ENV = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """Uninterrupted runs of each trainer, made on first use: {name: (data, run folder, result)}."""
    folder = tmp_path_factory.mktemp("kill_refs")
    data = make_data(folder)
    made = {}

    def get(name):
        if name not in made:
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                made[name] = (data, folder / name, run_trainer(name, data, folder / name))
            finally:
                torch.set_num_threads(before)
        return made[name]

    return get


def _metrics(run: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _same_training_state(a_path: Path, b_path: Path) -> None:
    a, b = torch.load(a_path, weights_only=True), torch.load(b_path, weights_only=True)
    assert a["global_step"] == b["global_step"] and a["epoch"] == b["epoch"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    for sa, sb in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values(),
                      strict=True):
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _resume_and_compare(name: str, refs, out: Path) -> dict:
    data, ref_run, ref = refs(name)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = run_trainer(name, data, out, resume=True)
    finally:
        torch.set_num_threads(before)
    _same_training_state(ref_run / "checkpoints" / "last.ckpt", out / "checkpoints" / "last.ckpt")
    assert _metrics(out) == _metrics(ref_run)
    assert len(_metrics(out)) == EPOCHS[name]
    assert not list((out / "checkpoints").glob(".*.tmp"))  # the torn temporary file is gone
    if name == "temi":
        assert (res["best_epoch"], res["best_head"], res["select_loss"]) == (
            ref["best_epoch"], ref["best_head"], ref["select_loss"])
        assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    else:
        assert Path(res["best_checkpoint"]).name == Path(ref["best_checkpoint"]).name
    return res


# (trainer, kill point): mid-epoch (a step of the last epoch), right after an epoch, during a last.ckpt write
POINTS = [("temi", f"step:{STEPS['temi'] + 2}"), ("temi", "epoch:1"), ("temi", "write:2"),
          ("ae", f"step:{STEPS['ae'] + 1}"), ("ae", "write:2"), ("pair", "epoch:1")]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "point"), POINTS)
def test_killed_at_a_fixed_point_resumes_to_the_uninterrupted_result(tmp_path, refs, name, point):
    data, _, _ = refs(name)
    out = tmp_path / "killed"
    proc = subprocess.run([sys.executable, str(SCRIPT), name, str(data), str(out), point], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    kind, n = point.split(":")
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    # default settings: last.ckpt is the state of the last finished epoch (at most one epoch is lost)
    expected = {"step": (int(n) // STEPS[name]) * STEPS[name], "epoch": int(n) * STEPS[name],
                "write": (int(n) - 1) * STEPS[name]}[kind]
    assert last["global_step"] == expected
    _resume_and_compare(name, refs, out)


@pytest.mark.slow
def test_real_sigkill_at_a_random_moment_resumes_to_the_uninterrupted_result(tmp_path, refs):
    data, _, _ = refs("temi")
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "temi", str(data), str(out), "slow:0.05"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoints" / "last.ckpt").exists() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(float(np.random.default_rng(7).uniform(0.0, 0.3)))  # seeded, inside epoch 1
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    _resume_and_compare("temi", refs, out)


def _ddp_script(data: Path, out: Path, point: str) -> int:
    """Run kill_train_script.py for ae-ddp (2 gloo processes) in its own session; whatever is left of the
    session afterwards (a second process that outlived the first) is killed. Returns the exit code."""
    env = {**ENV, "PL_DISABLE_FORK": "1"}
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "ae-ddp", str(data), str(out), point], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=240)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode in (0, -signal.SIGKILL), err[-3000:]
    return proc.returncode


def _close_training_state(a_path: Path, b_path: Path) -> None:
    a, b = torch.load(a_path, weights_only=True), torch.load(b_path, weights_only=True)
    assert (a["global_step"], a["epoch"]) == (b["global_step"], b["epoch"])
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=1e-5, atol=1e-6, msg=k)
    for sa, sb in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values(),
                      strict=True):
        assert sa.keys() == sb.keys()
        for k in sa:
            torch.testing.assert_close(sa[k], sb[k], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_ddp_run_killed_mid_epoch_resumes_to_the_uninterrupted_ddp_result(tmp_path):
    """Two gloo CPU processes (autoencoder, default checkpointing): both SIGKILL themselves before step 3
    (mid epoch 1); --resume (again 2 processes) ends allclose to an uninterrupted 2-process run."""
    data = make_data(tmp_path)
    assert _ddp_script(data, tmp_path / "ref", "none:0") == 0
    killed = tmp_path / "killed"
    assert _ddp_script(data, killed, f"step:{STEPS['ae-ddp'] + 1}") == -signal.SIGKILL
    last = torch.load(killed / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == STEPS["ae-ddp"]  # the end of epoch 0: the one finished epoch
    assert len(_metrics(killed)) == 1
    assert _ddp_script(data, killed, "resume:0") == 0
    _close_training_state(tmp_path / "ref" / "checkpoints" / "last.ckpt", killed / "checkpoints" / "last.ckpt")
    ref_rows, rows = _metrics(tmp_path / "ref"), _metrics(killed)
    assert len(rows) == len(ref_rows) == EPOCHS["ae-ddp"] and [r.keys() for r in rows] == [r.keys() for r in ref_rows]
    for r, q in zip(rows, ref_rows, strict=True):
        assert r == pytest.approx(q, rel=1e-5, abs=1e-6)
    assert not list((killed / "checkpoints").glob(".*.tmp"))


def test_last_checkpoint_follows_the_clock(tmp_path):
    """last.ckpt is rewritten after the first step that ends 10 minutes after the previous save."""
    from unshuffle.runs.rolling import LAST_EVERY_SECONDS, RollingCheckpoint

    now = [0.0]

    class Clock(__import__("lightning").Callback):  # 11 minutes pass during every second step
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            now[0] += 660.0 * (trainer.global_step % 2)

    saves = []

    class Record(RollingCheckpoint):
        def _save(self, trainer):
            saves.append(trainer.global_step)
            super()._save(trainer)

    data = make_data(tmp_path)
    import unshuffle.runs.rolling as rolling

    original = rolling.RollingCheckpoint
    rolling.RollingCheckpoint = lambda path, **kw: Record(path, clock=lambda: now[0], **kw)
    try:
        run_trainer("temi", data, tmp_path / "run", callbacks=[Clock()])
    finally:
        rolling.RollingCheckpoint = original
    assert LAST_EVERY_SECONDS == 600.0
    # steps 2, 4, 6, ... end 11 minutes after the previous save; epoch ends at 4, 8, 12 save again
    assert saves == [2, 4, 4, 6, 8, 8, 10, 12, 12]
