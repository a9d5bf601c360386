"""Case-study autoencoder: model shapes, Lightning training run folder, checkpoints, resume, CLI."""

import json
import re

import numpy as np
import pytest
import torch

from unshuffle.data.loaders import split_holdout
from unshuffle.errors import CheckpointError, ConfigError
from unshuffle.fragments.baseline.ae_training import AutoencoderTrainConfig, train_autoencoder
from unshuffle.fragments.baseline.autoencoder import (
    FragmentAutoencoder,
    embed_fragments,
    group_with_autoencoder,
    load_autoencoder,
)


@pytest.fixture
def npz_data(tmp_path, smooth_images):
    imgs = np.concatenate([smooth_images, smooth_images[:, ::-1], smooth_images[:, :, ::-1]])[:, :32, :32]
    path = tmp_path / "imgs.npz"
    np.savez(path, images=np.ascontiguousarray(imgs))
    return path


def _cfg(data, out, **kw):
    base = dict(train_dir=str(data), output_dir=str(out), val_fraction=0.25, images_per_sample=4,
                grid=4, batch_size=2, steps_per_epoch=3, val_steps=2, max_epochs=2, accelerator="cpu",
                progress=False, embedding_dim=8, width=8)
    base.update(kw)
    return AutoencoderTrainConfig(**base)


def test_model_shapes_and_validation():
    m = FragmentAutoencoder(16, 32, width=8)
    x = torch.rand(5, 3, 16, 16)
    assert m(x).shape == x.shape and m.encode(x).shape == (5, 32)
    assert ((m(x) >= 0) & (m(x) <= 1)).all()
    with pytest.raises(ConfigError, match="multiple of 4"):
        FragmentAutoencoder(10)
    frags = np.random.default_rng(0).integers(0, 256, (7, 16, 16, 3), dtype=np.uint8)
    assert embed_fragments(m, frags).shape == (7, 32)
    with pytest.raises(ConfigError, match="8 px"):
        embed_fragments(FragmentAutoencoder(8, 4, 4), frags)
    labels = group_with_autoencoder(m, frags, 3, seed=0)
    assert labels.shape == (7,) and set(labels.tolist()) <= {0, 1, 2}


def test_holdout_split_is_disjoint_and_seeded():
    a, b = split_holdout(100, 0.1, 0)
    assert len(b) == 10 and len(a) == 90 and not set(a) & set(b)
    assert np.array_equal(split_holdout(100, 0.1, 0)[1], b)
    assert not np.array_equal(split_holdout(100, 0.1, 1)[1], b)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="batch_size must be"):
        AutoencoderTrainConfig("a", "b", batch_size=0).validate()
    with pytest.raises(ConfigError, match="precision must be one of"):
        AutoencoderTrainConfig("a", "b", precision="fp8").validate()


def test_train_writes_run_folder_and_resumes(npz_data, tmp_path):
    out = tmp_path / "run"
    res = train_autoencoder(_cfg(npz_data, out))
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert "last.ckpt" in names
    best = [n for n in names if n != "last.ckpt"]
    assert len(best) == 1 and re.fullmatch(r"fragment-ae-epoch=\d+-val_loss=\d+\.\d{4}\.ckpt", best[0])
    assert not [n for n in names if n.endswith(".tmp")]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["model"] == {"fragment_size": 8, "embedding_dim": 8, "width": 8}
    assert "torch" in cfg["environment"]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1] and all("val_loss" in r for r in lines)
    assert any((out / "tensorboard").iterdir())

    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    for key in ("state_dict", "optimizer_states", "epoch", "global_step", "rng_states", "config"):
        assert key in ckpt
    assert ckpt["global_step"] == 6 and res["global_step"] == 6

    # save -> load -> identical outputs
    model = load_autoencoder(out / "checkpoints" / "last.ckpt")
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    ref = FragmentAutoencoder(8, 8, 8)
    ref.load_state_dict(state)
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(model.eval()(x), ref.eval()(x))

    # the run folder is not reused by accident
    with pytest.raises(CheckpointError, match="already holds a run"):
        train_autoencoder(_cfg(npz_data, out))
    # --resume continues the counters and appends to metrics.jsonl
    res2 = train_autoencoder(_cfg(npz_data, out, max_epochs=3, resume="last"))
    assert res2["global_step"] == 9
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1, 2]


def test_training_is_seeded(npz_data, tmp_path):
    a = train_autoencoder(_cfg(npz_data, tmp_path / "a", max_epochs=1))
    b = train_autoencoder(_cfg(npz_data, tmp_path / "b", max_epochs=1))
    c = train_autoencoder(_cfg(npz_data, tmp_path / "c", max_epochs=1, seed=1))
    wa, wb, wc = (torch.load(r["last_checkpoint"], weights_only=True)["state_dict"] for r in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_load_refuses_foreign_checkpoint(tmp_path):
    p = tmp_path / "x.ckpt"
    torch.save({"state_dict": {}}, p)
    with pytest.raises(CheckpointError, match="not a fragment-autoencoder checkpoint"):
        load_autoencoder(p)
    p.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="x.ckpt"):
        load_autoencoder(p)


def test_cli_cut_evaluate_visualize(npz_data, tmp_path, capsys):
    from unshuffle.cli.main import main

    out = tmp_path / "run"
    train_autoencoder(_cfg(npz_data, out, max_epochs=1))
    ckpt = out / "checkpoints" / "last.ckpt"
    assert main(["fragments", "evaluate", "--val-dir", str(npz_data), "--ckpt", str(ckpt),
                 "--num-samples", "3", "--images-per-sample", "4", "--with-baselines",
                 "--out", str(tmp_path / "m.json"), "--no-progress"]) == 0
    report = json.loads((tmp_path / "m.json").read_text())
    assert set(report["results"]) == {"model", "random", "raw_pixel_kmeans"}
    assert set(report["results"]["model"]) == {"ari", "nmi", "purity"}
    assert report["settings"]["num_samples"] == 3 and "version" in report
    assert len(report["per_sample"]["model"]) == 3

    png = tmp_path / "v.png"
    assert main(["fragments", "visualize", "--val-dir", str(npz_data), "--ckpt", str(ckpt),
                 "--images-per-sample", "4", "--save-path", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bag_dir = tmp_path / "bag"
    assert main(["fragments", "cut", str(npz_data), "--out", str(bag_dir), "--images-per-sample", "3"]) == 0
    truth = json.loads((bag_dir / "truth.json").read_text())
    assert len(truth["files"]) == 48 and len(list(bag_dir.glob("*.png"))) == 48
    assert main(["fragments", "cut", str(npz_data), "--out", str(bag_dir)]) == 1  # exists: refused
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("ckpt", [
    {"config": torch.zeros(3), "state_dict": {}},
    {"config": {"model": {"fragment_size": 16, "bogus": 1}}, "state_dict": {}},
    {"config": {"model": {"fragment_size": "16"}}, "state_dict": {}},
    {"config": {"model": {"fragment_size": 10}}, "state_dict": {}},
    {"config": {"model": {"fragment_size": 16}}, "state_dict": torch.zeros(2)},
])
def test_load_refuses_damaged_architecture_records(tmp_path, ckpt):
    p = tmp_path / "bad.ckpt"
    torch.save(ckpt, p)
    with pytest.raises(CheckpointError, match="bad.ckpt"):
        load_autoencoder(p)
