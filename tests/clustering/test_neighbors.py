"""Cosine neighbour mining: hand-worked cases, brute-force agreement, self exclusion, IVF recall, cache."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.clustering import neighbors as nb
from unshuffle.clustering.neighbors import mine_neighbors, mine_neighbors_file
from unshuffle.errors import ConfigError, DataFormatError


def _brute(feats: np.ndarray, k: int) -> np.ndarray:
    x = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def test_points_on_a_circle_have_hand_worked_neighbours():
    # angles 0, 10, 30, 100 degrees; lengths differ (cosine ignores them)
    ang = np.deg2rad([0, 10, 30, 100])
    feats = (np.stack([np.cos(ang), np.sin(ang)], 1) * np.array([[1], [5], [0.2], [3]])).astype(np.float32)
    idx = mine_neighbors(feats, k=2, progress=False)
    np.testing.assert_array_equal(idx, [[1, 2], [0, 2], [1, 0], [2, 1]])
    assert idx.dtype == np.int64


def test_exact_search_agrees_with_brute_force_and_is_scale_invariant():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(300, 16)).astype(np.float32)
    idx = mine_neighbors(feats, k=7, progress=False)
    np.testing.assert_array_equal(idx, _brute(feats, 7))
    scaled = feats * rng.uniform(0.1, 10, size=(300, 1)).astype(np.float32)
    np.testing.assert_array_equal(mine_neighbors(scaled, k=7, query_chunk=64, progress=False), idx)


def test_self_is_excluded_even_among_duplicates():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(10, 8)).astype(np.float32)
    feats = np.concatenate([base, base, base])  # every row has two identical copies
    idx = mine_neighbors(feats, k=2, progress=False)
    rows = np.arange(30)
    assert not (idx == rows[:, None]).any()
    copies = np.stack([(rows + 10) % 30, (rows + 20) % 30], 1)
    np.testing.assert_array_equal(np.sort(idx, 1), np.sort(copies, 1))


def test_ivf_recall_against_exact_search_on_clustered_data():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(40, 32))
    feats = (centres[rng.integers(0, 40, 4000)] + 0.35 * rng.normal(size=(4000, 32))).astype(np.float32)
    exact = mine_neighbors(feats, k=10, progress=False)
    ivf = mine_neighbors(feats, k=10, method="ivf", progress=False)  # nlist 102, nprobe 12
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, ivf, strict=True)])
    assert recall >= 0.9, recall
    assert not (ivf == np.arange(4000)[:, None]).any()
    coarse = mine_neighbors(feats, k=10, method="ivf", nprobe=1, progress=False)
    recall1 = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, coarse, strict=True)])
    assert recall1 < recall  # visiting fewer lists loses neighbours


def test_cache_is_reused_and_keyed_by_features_and_k(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(50, 4)).astype(np.float32)
    first = mine_neighbors(feats, k=5, cache_path=tmp_path, progress=False)
    calls = []
    real = nb._search
    monkeypatch.setattr(nb, "_search", lambda *a, **kw: calls.append(a[1]) or real(*a, **kw))
    np.testing.assert_array_equal(mine_neighbors(feats, k=5, cache_path=tmp_path, progress=False), first)
    assert calls == []
    mine_neighbors(feats, k=3, cache_path=tmp_path, progress=False)
    changed = feats.copy()
    changed[0, 0] += 1
    mine_neighbors(changed, k=5, cache_path=tmp_path, progress=False)
    assert calls == [3, 5]
    assert len(list(tmp_path.glob("neighbors-*.npy"))) == 3
    # a named .npy file keeps its key beside it and is overwritten when the key changes
    out = tmp_path / "run" / "nbrs.npy"
    mine_neighbors(feats, k=5, cache_path=out, progress=False)
    mine_neighbors(feats, k=4, cache_path=out, progress=False)
    assert np.load(out).shape == (50, 4) and calls == [3, 5, 5, 4]


def test_neighbours_of_a_feature_file(tmp_path):
    feats = np.random.default_rng(4).normal(size=(20, 3)).astype(np.float32)
    np.save(tmp_path / "f.npy", feats)
    out, idx = mine_neighbors_file(tmp_path / "f.npy", k=4)
    assert out == tmp_path / "neighbors-k4-exact.npy" and out.is_file()
    np.testing.assert_array_equal(idx, _brute(feats, 4))
    with pytest.raises(DataFormatError, match="feature cache entry folder or a float32"):
        mine_neighbors_file(tmp_path / "missing.npy")


def test_bad_arguments_name_the_problem():
    feats = np.ones((5, 2), dtype=np.float32)
    with pytest.raises(ConfigError, match=r"k=5: must be in \[1, 4\]"):
        mine_neighbors(feats, k=5)
    with pytest.raises(ConfigError, match="method='hnsw'"):
        mine_neighbors(feats, k=2, method="hnsw")
    with pytest.raises(ConfigError, match="nprobe=9"):
        mine_neighbors(np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32), k=2,
                       method="ivf", nlist=4, nprobe=9)
    feats[1, 1] = np.nan
    with pytest.raises(DataFormatError, match="NaN"):
        mine_neighbors(feats, k=2)
