"""train_temi on small synthetic features: run folder, label-free selection, save/load, determinism,
resume after Ctrl+C and SIGTERM, simulated GPU out-of-memory, non-finite loss."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch

from unshuffle.clustering.config import load_config
from unshuffle.clustering.predict import TemiHeads
from unshuffle.clustering.temi_system import NonFiniteLossError, TemiSystem, cosine_schedule
from unshuffle.clustering.train import (
    GpuOutOfMemory,
    TrainingInterrupted,
    load_assignments,
    train_temi,
)
from unshuffle.errors import CheckpointError, ConfigError
from unshuffle.runs.layout import RunDir

TINY = ["clusters=4", "head.n_heads=3", "head.hidden_dim=16", "head.bottleneck_dim=8", "optim.epochs=5",
        "optim.batch_size=40", "optim.warmup_epochs=1", "loss.teacher_temp_warmup_epochs=2", "knn=5",
        "checkpoint_every=2", "accelerator=cpu"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def blobs():
    """120 features in 4 separated blobs (labels only for a sanity check) and their 8 neighbours."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(120) % 4
    feats = (torch.randn(4, 16, generator=g) * 4)[labels] + torch.randn(120, 16, generator=g)
    f = torch.nn.functional.normalize(feats, dim=1)
    nbrs = (f @ f.T).fill_diagonal_(-2).topk(8, dim=1).indices
    return feats.numpy(), nbrs.numpy(), labels.numpy()


def _cfg(*extra):
    return load_config(overrides=TINY + list(extra))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, blobs):
    """One finished run shared by the read-only tests: (run folder, train_temi's summary)."""
    feats, nbrs, _ = blobs
    path = tmp_path_factory.mktemp("temi") / "run"
    return path, train_temi(_cfg(), feats, nbrs, path)


def test_run_folder_history_and_label_free_selection(trained, blobs):
    feats, nbrs, labels = blobs
    path, out = trained
    run = RunDir(path)
    saved = run.read_config()["config"]["temi"]
    assert saved["clusters"] == 4 and saved["head"]["n_heads"] == 3  # the resolved config is in the run
    hist = run.read_metrics()
    assert [h["epoch"] for h in hist] == [0, 1, 2, 3, 4]
    assert [h["select_loss"] is None for h in hist] == [True, True, False, False, False]  # warm-up excluded
    best = min((h for h in hist if h["select_loss"] is not None), key=lambda h: h["select_loss"])
    assert out["best_epoch"] == best["epoch"]
    assert out["best_head"] == int(np.argmin(best["head_losses"]))
    names = sorted(p.name for p in run.checkpoints.iterdir())
    assert names == ["best.ckpt", "epoch0001.ckpt", "epoch0003.ckpt", "last.ckpt"]
    assert any((run.path / "tensorboard").rglob("events.out.tfevents*"))
    clusters, conf = load_assignments(run.path)
    assert clusters.shape == (120,) and conf.min() > 0 and conf.max() <= 1
    # the heads learnt something on well-separated blobs (the labels are used only here)
    from unshuffle.evaluation.metrics import hungarian_accuracy

    assert hungarian_accuracy(labels, clusters) > 0.5


def test_saved_model_reproduces_assignments_and_loads_strictly(trained, blobs):
    feats, _, _ = blobs
    path, _ = trained
    heads = TemiHeads.load(path)
    clusters, conf = heads.assign(feats)
    want_c, want_p = load_assignments(path)
    np.testing.assert_array_equal(clusters, want_c)
    np.testing.assert_array_equal(conf, want_p)
    # the exported heads are the teacher of the label-free best checkpoint, best head included
    ckpt = torch.load(path / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert int(ckpt["teacher.best_head"]) == int(heads.heads.best_head)
    torch.testing.assert_close(ckpt["teacher.w_in"], heads.heads.w_in, rtol=0, atol=0)
    model = torch.load(path / "model.pt", weights_only=True)
    model["state_dict"]["extra"] = torch.zeros(1)
    from unshuffle.errors import CheckpointError

    with pytest.raises(CheckpointError, match="do not fit"):
        TemiHeads.from_dict(model)


def test_same_seed_same_result_other_seed_differs(tmp_path, blobs, trained):
    feats, nbrs, _ = blobs
    path, _ = trained
    train_temi(_cfg(), feats, nbrs, tmp_path / "b")
    train_temi(_cfg("seed=7", "optim.epochs=3"), feats, nbrs, tmp_path / "c")
    a, b, c = (torch.load(r / "model.pt", weights_only=True)["state_dict"]
               for r in (path, tmp_path / "b", tmp_path / "c"))
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert not torch.equal(a["w_in"], c["w_in"])
    np.testing.assert_array_equal(load_assignments(path)[0], load_assignments(tmp_path / "b")[0])


def _raise_at_step(monkeypatch, step: int, action):
    original = TemiSystem.training_step

    def patched(self, batch, batch_idx):
        if self.global_step == step:
            action()
        return original(self, batch, batch_idx)

    monkeypatch.setattr(TemiSystem, "training_step", patched)


def _ctrl_c():
    raise KeyboardInterrupt


def _sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.parametrize(("action", "reason"), [(_ctrl_c, "Ctrl\\+C"), (_sigterm, "SIGTERM")])
def test_interrupt_saves_checkpoint_and_resume_finishes(tmp_path, blobs, monkeypatch, action, reason):
    feats, nbrs, _ = blobs
    sigint_before = signal.getsignal(signal.SIGINT)
    _raise_at_step(monkeypatch, 7, action)
    with pytest.raises(TrainingInterrupted, match=reason):
        train_temi(_cfg(), feats, nbrs, tmp_path / "run")
    assert signal.getsignal(signal.SIGINT) is sigint_before  # Ctrl+C works again afterwards
    run = RunDir(tmp_path / "run")
    ckpt = torch.load(run.last_checkpoint, weights_only=True)
    assert ckpt["global_step"] >= 7
    assert len(run.read_metrics()) == 2  # epochs 0 and 1 finished (3 steps each)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="differ"):
        train_temi(_cfg("optim.lr=0.5"), feats, nbrs, tmp_path / "run", resume=True)
    doc = json.loads(run.config_path.read_text())
    del doc["config"]["temi"]["optim"]["min_steps_per_epoch"]  # as saved before the setting existed
    run.config_path.write_text(json.dumps(doc))
    out = train_temi(_cfg(), feats, nbrs, tmp_path / "run", resume=True)  # same settings: accepted
    assert out["epochs"] == 5 and (out["batch_size"], out["steps_per_epoch"]) == (40, 3)
    assert [h["epoch"] for h in run.read_metrics()][-1] == 4
    assert "resumed_from" in json.loads(run.config_path.read_text())


def test_overwrite_of_a_killed_run_starts_a_clean_folder(tmp_path, blobs, monkeypatch):
    """A run stopped by SIGTERM at step 7, then overwritten with 3 epochs: only the new run's metrics
    lines, checkpoints and files remain (the old run's were mixed into the curves before); a feature
    cache recorded inside the folder is kept."""
    feats, nbrs, _ = blobs
    run = RunDir(tmp_path / "run")
    _raise_at_step(monkeypatch, 7, _sigterm)
    with pytest.raises(TrainingInterrupted):
        train_temi(_cfg(), feats, nbrs, run.path)
    monkeypatch.undo()
    old_ckpts = sorted(p.name for p in run.checkpoints.iterdir())
    assert len(run.read_metrics()) == 2 and len(old_ckpts) == 3, old_ckpts
    (run.path / "plots").mkdir()
    (run.path / "plots" / "curves.png").write_bytes(b"old picture")
    (run.path / "cache" / "features").mkdir(parents=True)
    (run.path / "cache" / "features" / "f.npy").write_bytes(b"cached")
    with pytest.raises(CheckpointError, match="already holds a run"):
        train_temi(_cfg(), feats, nbrs, run.path)
    train_temi(_cfg("optim.epochs=3", "checkpoint_every=0", "seed=5"), feats, nbrs, run.path, overwrite=True,
               record={"cache_dir": str(run.path / "cache" / "features")})
    assert [h["epoch"] for h in run.read_metrics()] == [0, 1, 2]
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]  # no old epoch file
    assert torch.load(run.last_checkpoint, weights_only=True)["global_step"] == 9
    assert not (run.path / "plots").exists()
    assert (run.path / "cache" / "features" / "f.npy").read_bytes() == b"cached"
    saved = run.read_config()
    assert saved["config"]["temi"]["seed"] == 5 and "resumed_from" not in saved


def test_gpu_out_of_memory_suggests_a_smaller_batch(tmp_path, blobs, monkeypatch):
    feats, nbrs, _ = blobs

    def oom():
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    _raise_at_step(monkeypatch, 0, oom)
    with pytest.raises(GpuOutOfMemory, match="smaller batch, e.g. --set optim.batch_size=20"):
        train_temi(_cfg(), feats, nbrs, tmp_path / "run")


def test_non_finite_loss_stops_at_once(tmp_path, blobs, monkeypatch):
    feats, nbrs, _ = blobs
    from unshuffle.clustering.temi_loss import TEMILoss

    original = TEMILoss.forward
    calls = []

    def nan_loss(self, *a, **k):
        calls.append(1)
        out = original(self, *a, **k)
        return out * float("nan") if len(calls) == 4 else out

    monkeypatch.setattr(TEMILoss, "forward", nan_loss)
    with pytest.raises(NonFiniteLossError, match="loss is nan at epoch 1, step 3"):
        train_temi(_cfg(), feats, nbrs, tmp_path / "run")
    assert len(calls) == 4  # no step after the bad one
    assert len(RunDir(tmp_path / "run").read_metrics()) == 1


def test_inputs_are_checked(tmp_path, blobs):
    feats, nbrs, _ = blobs
    with pytest.raises(ConfigError, match="knn must be <= the 8 mined"):
        train_temi(_cfg("knn=9"), feats, nbrs, tmp_path / "run")
    with pytest.raises(ConfigError, match="neighbors must be"):
        train_temi(_cfg(), feats, nbrs[:10], tmp_path / "run")
    bad = feats.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        train_temi(_cfg(), bad, nbrs, tmp_path / "run")


def test_schedules_are_pure_functions_of_the_step():
    assert cosine_schedule(0, 100, 10, peak=1.0, final=0.1) == 0.0
    assert cosine_schedule(5, 100, 10, peak=1.0, final=0.1) == pytest.approx(0.5)
    assert cosine_schedule(10, 100, 10, peak=1.0, final=0.1) == pytest.approx(1.0)
    assert cosine_schedule(55, 100, 10, peak=1.0, final=0.1) == pytest.approx(0.55)
    assert cosine_schedule(100, 100, 10, peak=1.0, final=0.1) == pytest.approx(0.1)
    assert cosine_schedule(10**6, 100, 10, peak=1.0, final=0.1) == pytest.approx(0.1)
