"""`unshuffle cluster all` end to end on a synthetic image folder with a tiny custom backbone, then
`cluster predict` in a fresh process: reproduces the run's assignments and never imports Lightning."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap

import pytest

from unshuffle.cli.main import main

TINY = ["head.n_heads=2", "head.hidden_dim=16", "head.bottleneck_dim=8", "optim.epochs=4", "optim.batch_size=32",
        "optim.warmup_epochs=1", "loss.teacher_temp_warmup_epochs=1", "knn=4", "checkpoint_every=2",
        "accelerator=cpu"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def image_folder(colour_classes):
    """48 images in 3 class folders (red-ish, green-ish, blue-ish with noise) and the backbone module."""
    return colour_classes("tiny_temi_backbone", 16, 40)


def test_cluster_all_then_predict_reproduces_assignments(tmp_path, image_folder, capsys):
    run = tmp_path / "run"
    args = ["cluster", "all", str(image_folder), "--clusters", "3", "--backbone", "tiny_temi_backbone:make",
            "--out", str(run), "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--set", *TINY]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "temi" in table and "kmeans" in table and "kNN" in table
    report = json.loads((run / "report.json").read_text())
    assert report["labelled"] and report["n_images"] == 48 and report["n_classes"] == 3
    assert set(report["methods"]) == {"temi", "kmeans", "spectral"}
    assert report["methods"]["kmeans"]["scores"]["accuracy"] == 1.0  # the colours are trivially separable
    assert report["knn_loo_accuracy"] == 1.0
    assert "oracle" in report["diagnostics"]["note"]
    assert sum(report["methods"]["temi"]["stats"]["sizes"]) == 48
    for png in ("curves.png", "gallery.png", "sizes.png"):
        assert (run / "plots" / png).stat().st_size > 1000
    # `cluster evaluate` rebuilds the report from the run folder and the feature cache alone
    assert main(["cluster", "evaluate", str(run), "--no-plots"]) == 0
    again = json.loads((run / "report.json").read_text())
    assert again["methods"]["temi"] == report["methods"]["temi"]
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["backbone"]["source"] == "tiny_temi_backbone:make"
    assert config["temi"]["clusters"] == 3

    out_csv = tmp_path / "pred.csv"
    code = textwrap.dedent(f"""
        import sys
        from unshuffle.cli.main import main
        rc = main(["cluster", "predict", {str(run)!r}, {str(image_folder)!r}, "--out", {str(out_csv)!r},
                   "--backbone", "tiny_temi_backbone:make"])  # a custom factory must be named to be run
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("lightning", "pytorch_lightning"))
        print("HEAVY", heavy)
        sys.exit(rc)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "mods"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout
    rows = list(csv.DictReader(out_csv.open()))
    assert list(rows[0]) == ["file", "cluster", "confidence", "rank"]
    assert rows[0]["file"] == "blue/00.png"  # relative to IMAGES
    got = {r["file"]: int(r["cluster"]) for r in rows}
    from unshuffle.clustering.train import load_assignments
    from unshuffle.data import open_images

    clusters, _ = load_assignments(run)
    names = open_images(image_folder).names
    assert [got[n] for n in names] == clusters.tolist()
    # the run's own assignments.csv: same files, same order, same clusters as predict
    table = list(csv.DictReader((run / "assignments.csv").open()))
    assert [r["file"] for r in table] == [r["file"] for r in rows] == names
    assert [int(r["cluster"]) for r in table] == [int(r["cluster"]) for r in rows]

    # export: one folder per cluster, every image exactly once, symlinks to the originals
    assert main(["cluster", "export", str(run), "--out", str(tmp_path / "by_cluster")]) == 0
    files = sorted(p for p in (tmp_path / "by_cluster").rglob("*") if not p.is_dir())
    assert len(files) == 48 and all(p.is_symlink() for p in files)
    assert sorted(p.resolve() for p in files) == sorted((image_folder / n).resolve() for n in names)
    sizes = {int(c): clusters.tolist().count(c) for c in set(clusters.tolist())}
    assert {p.name for p in (tmp_path / "by_cluster").iterdir()} == {f"cluster-{c}_n{n}" for c, n in sizes.items()}
    assert main(["cluster", "export", str(run), "--out", str(tmp_path / "copies"), "--copy"]) == 0
    copies = [p for p in (tmp_path / "copies").rglob("*.png")]
    assert len(copies) == 48 and not any(p.is_symlink() for p in copies)


def test_cluster_all_refuses_missing_clusters_and_existing_run(tmp_path, image_folder, capsys):
    base = ["cluster", "all", str(image_folder), "--backbone", "tiny_temi_backbone:make", "--no-progress",
            "--cache-dir", str(tmp_path / "cache")]
    assert main([*base, "--out", str(tmp_path / "r")]) == 1
    assert "clusters must be given" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "r"), "--clusters", "3", "--set", "optim.lr=-1"]) == 1
    assert "optim.lr must be in [0.0, 10.0], got -1" in capsys.readouterr().err
