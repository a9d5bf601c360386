"""assignments.csv (ranks, order, round trip) and `export_clusters` of images held inside an .npz."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from unshuffle.clustering.outputs import (
    cluster_folder_name,
    cluster_ranks,
    export_clusters,
    read_assignments_csv,
    write_assignments_csv,
)
from unshuffle.errors import CheckpointError, ConfigError


def test_ranks_count_from_the_most_confident_image_of_each_cluster():
    clusters = np.array([2, 0, 2, 0, 2, 1])
    confidence = np.array([0.5, 0.9, 0.8, 0.9, 0.7, 0.1])
    # cluster 0: tie, image order decides; cluster 2: 0.8 > 0.7 > 0.5
    assert cluster_ranks(clusters, confidence).tolist() == [3, 1, 1, 2, 2, 1]


def test_csv_round_trip_keeps_the_image_order(tmp_path):
    names = ["b/x.png", "a#3", "c.jpg"]
    write_assignments_csv(tmp_path / "a.csv", names, np.array([1, 1, 0]), np.array([0.2, 0.6, 0.5], np.float32))
    t = read_assignments_csv(tmp_path / "a.csv")
    assert t["file"] == names and t["cluster"].tolist() == [1, 1, 0] and t["rank"].tolist() == [2, 1, 1]
    assert (tmp_path / "a.csv").read_text().splitlines()[0] == "file,cluster,confidence,rank"


def test_folder_names_carry_id_and_size():
    assert cluster_folder_name(3, 42, 12) == "cluster-03_n42"
    assert cluster_folder_name(3, 42, 5) == "cluster-3_n42"


def _fake_run(tmp_path, data, names, clusters, k):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"config": {"data": {"path": str(data), "split": None},
                                                            "temi": {"clusters": k}}}))
    write_assignments_csv(run / "assignments.csv", names, np.asarray(clusters), np.linspace(0.9, 0.5, len(names)))
    return run


def test_export_of_npz_images_writes_each_image_once_as_png(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(7, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "set.npz", images=imgs)
    from unshuffle.data import open_images

    names = open_images(tmp_path / "set.npz").names
    assert names[0].endswith("#0")  # source#index
    clusters = [0, 2, 2, 0, 2, 3, 3]  # cluster 1 empty: no folder
    run = _fake_run(tmp_path, tmp_path / "set.npz", names, clusters, 4)
    out = export_clusters(run, tmp_path / "out")
    assert out["mode"] == "png" and out["images"] == 7
    assert out["clusters"] == {"cluster-0_n2": 2, "cluster-2_n3": 3, "cluster-3_n2": 2}
    written = sorted((tmp_path / "out").rglob("*.png"))
    assert len(written) == 7
    got = sorted(np.asarray(Image.open(p)).tobytes() for p in written)
    assert got == sorted(im.tobytes() for im in imgs)
    first = sorted((tmp_path / "out" / "cluster-2_n3").iterdir())[0].name
    assert first.startswith("1_")  # most confident first
    with pytest.raises(ConfigError, match="already exists"):
        export_clusters(run, tmp_path / "out")
    again = export_clusters(run, tmp_path / "out", overwrite=True)  # an earlier export is replaced
    assert again["images"] == 7 and len(sorted((tmp_path / "out").rglob("*.png"))) == 7
    photos = tmp_path / "photos"  # a folder of other files given as --out by mistake: refused, kept
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"mine")
    (photos / "cluster-0_n2").mkdir()
    with pytest.raises(ConfigError, match="not an earlier export.*holiday.jpg"):
        export_clusters(run, photos, overwrite=True)
    assert sorted(p.name for p in photos.iterdir()) == ["cluster-0_n2", "holiday.jpg"]


def test_export_refuses_when_the_data_changed(tmp_path):
    np.savez(tmp_path / "set.npz", images=np.zeros((3, 4, 4, 3), np.uint8))
    run = _fake_run(tmp_path, tmp_path / "set.npz", ["a", "b", "c"], [0, 1, 0], 2)
    with pytest.raises(CheckpointError, match="not the ones the run"):
        export_clusters(run, tmp_path / "out")


def test_digits_demo_runs_end_to_end_on_a_tiny_setting(tmp_path, write_backbone, monkeypatch):
    from unshuffle.clustering.demo import digits_demo
    from unshuffle.data.embedded import digits_images

    imgs, labels = digits_images(16)
    assert imgs.shape == (1797, 16, 16, 3) and imgs.dtype == np.uint8 and sorted(set(labels)) == list(range(10))
    write_backbone(tmp_path / "mods", "grid_digits")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    out = digits_demo(tmp_path / "demo", backbone="grid_digits:make", size=16,
                      overrides=["optim.epochs=1", "head.n_heads=1", "head.hidden_dim=16", "head.bottleneck_dim=8",
                                 "optim.warmup_epochs=0", "loss.teacher_temp_warmup_epochs=0", "knn=5"])
    report = out["report"]
    assert report["labelled"] and set(report["methods"]) == {"temi", "kmeans", "spectral"}
    assert report["methods"]["kmeans"]["scores"]["accuracy"] > 0.3  # mean-colour cells still separate digits
    for png in ("gallery.png", "sizes.png", "curves.png"):
        assert (tmp_path / "demo" / "run" / "plots" / png).is_file()
    assert len((tmp_path / "demo" / "run" / "assignments.csv").read_text().splitlines()) == 1798


def test_export_into_the_data_folder_is_refused(tmp_path):
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(data / f"{i}.png")
    from unshuffle.data import open_images

    run = _fake_run(tmp_path, data, open_images(data).names, [0, 1, 0], 2)
    with pytest.raises(ConfigError, match="inside the input"):
        export_clusters(run, data / "by_cluster")
    assert sorted(p.name for p in data.iterdir()) == ["0.png", "1.png", "2.png"]  # nothing written there
    assert export_clusters(run, tmp_path / "by_cluster")["images"] == 3  # beside the data: fine
