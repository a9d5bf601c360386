"""Clustering report, leave-one-out kNN and the k-means baseline on hand-made inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unshuffle.clustering.baseline import kmeans_labels
from unshuffle.errors import ConfigError
from unshuffle.evaluation.knn import knn_loo_accuracy
from unshuffle.evaluation.report import build_report, cluster_stats, format_table, write_report


def test_cluster_stats_hand_values():
    s = cluster_stats(np.array([0, 0, 0, 2, 2, 4]), 5)
    assert s["sizes"] == [3, 0, 2, 0, 1]
    assert (s["occupied"], s["empty"], s["largest"], s["smallest_nonempty"]) == (3, 2, 3, 1)
    assert s["occupancy"] == pytest.approx(0.6) and s["median_size"] == 2.0 and s["expected_size"] == 1.2
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        cluster_stats(np.array([0, 2]), 2)


def test_knn_leaves_each_image_out():
    # two tight pairs on orthogonal axes; with k=1 each image's only neighbour is its partner
    feats = np.array([[1, 0.01], [1, -0.01], [0.01, 1], [-0.01, 1]], dtype=np.float32)
    assert knn_loo_accuracy(feats, np.array([0, 0, 1, 1]), k=1) == 1.0
    assert knn_loo_accuracy(feats, np.array([0, 1, 0, 1]), k=1) == 0.0  # the image itself never votes
    with pytest.raises(ValueError, match="k must be in"):
        knn_loo_accuracy(feats, np.array([0, 0, 1, 1]), k=4)


def test_kmeans_finds_separated_blobs_and_is_seeded():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 8)) * 10
    labels = np.repeat(np.arange(3), 30)
    feats = (centers[labels] + rng.normal(size=(90, 8))).astype(np.float32)
    a = kmeans_labels(feats, 3, seed=1)
    assert len(np.unique(a)) == 3
    assert all(len(np.unique(a[labels == c])) == 1 for c in range(3))
    np.testing.assert_array_equal(a, kmeans_labels(feats, 3, seed=1))
    with pytest.raises(ConfigError, match="N >= clusters=100"):
        kmeans_labels(feats, 100)


def test_report_table_and_json_flag_oracle_numbers(tmp_path):
    truth = np.array([0, 0, 1, 1])
    rep = build_report({"temi": np.array([1, 1, 0, 0]), "kmeans": np.array([0, 0, 0, 1])}, 2, truth,
                       knn_accuracy=0.75, diagnostics={"best_head_accuracy": 1.0})
    assert rep["methods"]["temi"]["scores"]["accuracy"] == 1.0  # relabelling does not matter
    assert rep["methods"]["kmeans"]["scores"]["accuracy"] == 0.75
    assert "oracle" in rep["diagnostics"]["note"]
    table = format_table(rep)
    assert "DIAGNOSTIC (oracle, uses labels) best_head_accuracy" in table and "0.7500" in table
    write_report(rep, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == rep
    unlabelled = build_report({"temi": np.array([0, 1, 1, 1])}, 3)
    assert "scores" not in unlabelled["methods"]["temi"] and unlabelled["methods"]["temi"]["stats"]["empty"] == 1
    assert "no labels" in format_table(unlabelled)
