"""`unshuffle cluster train` without --preset: the machine-fitted recipe is printed, recorded in config.json and
train_summary.json, and the settings given with --set replace the recipe's (and are listed)."""

from __future__ import annotations

import json

import torch


def test_cluster_train_without_preset_prints_and_records_the_recipe(tmp_path, colour_classes, capsys):
    from unshuffle.cli.main import main

    torch.set_num_threads(1)
    folder = colour_classes("tiny_recipe_backbone", 16, 32)
    run = tmp_path / "run"
    small = ["head.hidden_dim=16", "head.bottleneck_dim=8", "knn=4", "accelerator=cpu", "optim.epochs=3",
             "head.init_epochs=5"]
    args = ["cluster", "train", str(folder), "--clusters", "3", "--backbone", "tiny_recipe_backbone:make",
            "--out", str(run), "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--set", *small]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "recipe cpu-spectral (preset cpu; head.init=spectral" in out
    assert "replaced by your settings: head.init_epochs, optim.epochs" in out
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["recipe"]["name"] == "cpu-spectral" and summary["recipe"]["n_images"] == 48
    assert "48 images" in summary["recipe"]["reason"]
    assert summary["head_init"]["epochs"] == 5 and summary["epochs"] == 3
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved["recipe"] == summary["recipe"]
    assert saved["temi"]["head"]["init"] == "spectral" and saved["temi"]["head"]["n_heads"] == 4
