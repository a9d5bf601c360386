"""`unshuffle cluster train --clusters auto`: K estimated without labels, evidence written, then trained with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from unshuffle.cli.main import main

TINY = ["head.n_heads=2", "head.hidden_dim=16", "head.bottleneck_dim=8", "optim.epochs=3", "optim.batch_size=32",
        "optim.warmup_epochs=1", "loss.teacher_temp_warmup_epochs=1", "knn=4", "accelerator=cpu"]


@pytest.fixture
def colour_folder(colour_classes):
    """60 images in 3 colour folders and the tiny backbone module."""
    return colour_classes("tiny_auto_backbone", 20, 32)


def test_clusters_auto_estimates_three_and_trains(tmp_path, colour_folder, capsys):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    args = ["cluster", "train", str(colour_folder), "--clusters", "auto", "--backbone", "tiny_auto_backbone:make",
            "--out", str(run), "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--set", *TINY]
    assert main(args) == 0
    assert "estimated K = 3" in capsys.readouterr().out
    est = json.loads((run / "k_estimate" / "estimate.json").read_text())
    cands = list(range(2, 13)) + [14, 15]  # 60 images, a small folder: up to min(60 // 3, 2 * sqrt(60)) = 15
    assert est["k"] == 3 and est["candidates"] == cands
    assert len((run / "k_estimate" / "scores.jsonl").read_text().splitlines()) == len(cands)
    assert (run / "k_estimate" / "criterion.png").stat().st_size > 1000
    assert json.loads((run / "config.json").read_text())["config"]["temi"]["clusters"] == 3


def test_clusters_must_be_int_or_auto(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["cluster", "train", str(tmp_path), "--clusters", "many", "--out", str(tmp_path / "r")])
    assert "integer or 'auto'" in capsys.readouterr().err


def test_clusters_auto_on_too_few_images_fails_before_extraction(tmp_path, write_backbone, monkeypatch, capsys):
    """The K search range needs >= 6 images: refused before any feature is extracted (no cache entry)."""
    write_backbone(tmp_path / "mods", "tiny_auto_backbone2")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    root = tmp_path / "few"
    root.mkdir()
    for i in range(4):
        Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(root / f"{i}.png")
    args = ["cluster", "train", str(root), "--clusters", "auto", "--backbone", "tiny_auto_backbone2:make",
            "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(args) != 0
    assert "estimating K needs at least 6 images, got 4" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("features.npy"))
