"""`cluster evaluate` and `cluster train --resume` rebuild the backbone recorded in a run folder when
the feature cache misses; a recorded custom ``module:factory`` (code a hostile run folder could name)
is refused unless the user names the same spec, and its module is then never imported."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from unshuffle.clustering.config import load_config
from unshuffle.clustering.pipeline import evaluate_run, train_on_images
from unshuffle.errors import ConfigError, UnsafeFileError

MOD = "trust_temi_backbone"
TINY = ["clusters=2", "head.n_heads=2", "head.hidden_dim=8", "head.bottleneck_dim=4", "optim.epochs=2",
        "optim.batch_size=8", "optim.warmup_epochs=1", "loss.teacher_temp_warmup_epochs=1", "knn=3",
        "checkpoint_every=2", "accelerator=cpu"]


@pytest.fixture
def trained(tmp_path, monkeypatch, write_backbone):
    """A finished run on 12 images with the custom backbone MOD:make, its feature cache deleted and
    the module forgotten: (run folder, images, marker file written when the module is imported)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    marker = tmp_path / "imported"
    write_backbone(tmp_path / "mods", MOD, marker)
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "blue"]):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(6):
            img = rng.integers(0, 90, size=(32, 32, 3))
            img[..., 2 * c] += 150
            Image.fromarray(img.astype(np.uint8)).save(tmp_path / "imgs" / name / f"{i}.png")
    run = tmp_path / "run"
    train_on_images(tmp_path / "imgs", load_config(overrides=TINY), run, backbone=f"{MOD}:make",
                    cache_dir=tmp_path / "cache")
    shutil.rmtree(tmp_path / "cache")
    marker.unlink()
    sys.modules.pop(MOD, None)
    yield run, tmp_path / "imgs", marker
    sys.modules.pop(MOD, None)
    torch.set_num_threads(before)


@pytest.mark.slow
def test_evaluate_refuses_an_unnamed_custom_backbone_then_runs_the_named_one(trained):
    run, _, marker = trained
    with pytest.raises(UnsafeFileError, match=rf"evaluate_run\(\.\.\., backbone='{MOD}:make'\)"):
        evaluate_run(run, plots=False)
    assert not marker.exists() and MOD not in sys.modules
    with pytest.raises(ConfigError, match="does not match"):
        evaluate_run(run, plots=False, backbone="other_mod:make")
    assert not marker.exists() and MOD not in sys.modules
    report = evaluate_run(run, plots=False, backbone=f"{MOD}:make")
    assert marker.exists() and report["n_images"] == 12


@pytest.mark.slow
def test_resume_refuses_an_unnamed_custom_backbone_then_runs_the_named_one(trained):
    run, imgs, marker = trained
    with pytest.raises(UnsafeFileError, match=rf"--backbone {MOD}:make"):
        train_on_images(imgs, None, run, backbone=None, resume=True)
    assert not marker.exists() and MOD not in sys.modules
    summary = train_on_images(imgs, None, run, backbone=f"{MOD}:make", resume=True)
    assert marker.exists() and summary["n_images"] == 12


@pytest.mark.slow
def test_cli_evaluate_refusal_names_the_option(trained, capsys):
    from unshuffle.cli.main import main

    run, _, marker = trained
    assert main(["cluster", "evaluate", str(run), "--no-plots"]) != 0
    assert f"--backbone {MOD}:make" in capsys.readouterr().err
    assert not marker.exists() and MOD not in sys.modules
