"""head.init=spectral: graph neighbour rule by hand, heads fitted to a given partition, the warm start inside
train_temi (recorded in the summary, skipped on resume), and the config check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unshuffle.clustering.config import load_config
from unshuffle.clustering.head_init import fit_heads_to_partition, graph_neighbours, spectral_partition
from unshuffle.clustering.heads import MultiHeadMLP
from unshuffle.clustering.train import load_assignments, train_temi
from unshuffle.errors import ConfigError
from unshuffle.evaluation.metrics import hungarian_accuracy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def blobs():
    """90 features in 3 blobs of 30 (labels only to check), their 6 neighbours. The blobs are close enough for
    the 7-NN graph to be connected (on a graph of separate components ARPACK may mix the eigenvectors)."""
    g = torch.Generator().manual_seed(2)
    labels = torch.arange(90) % 3
    feats = (torch.randn(3, 12, generator=g) * 5)[labels] + 2.5 * torch.randn(90, 12, generator=g)
    f = torch.nn.functional.normalize(feats, dim=1)
    nbrs = (f @ f.T).fill_diagonal_(-2).topk(6, dim=1).indices
    return feats.numpy(), nbrs.numpy(), labels.numpy()


@pytest.mark.parametrize(("n", "k", "want"), [(1000, 10, 20), (400, 10, 20),
                                              (10000, 200, 20),  # the spectral reference's 20, not N/4K = 12
                                              (4, 2, 3)])  # never more than N - 1
def test_graph_neighbours_rule(n, k, want):
    assert graph_neighbours(n, k) == want


def test_spectral_partition_finds_the_blobs(blobs):
    feats, _, labels = blobs
    part = spectral_partition(feats, 3, seed=0)
    assert part.shape == (90,) and part.dtype == np.int64
    assert hungarian_accuracy(labels, part) == 1.0


def test_fit_heads_to_partition_every_head_learns_it(blobs):
    feats, _, labels = blobs
    heads = MultiHeadMLP(12, 3, n_heads=2, hidden_dim=16, bottleneck_dim=8, seed=0)
    x = torch.as_tensor(feats)
    heads.set_feature_stats(x)
    target = torch.as_tensor((labels + 1) % 3)  # any labelling: the heads must reproduce it exactly
    losses = fit_heads_to_partition(heads, x, target, epochs=30, temperature=0.1, seed=0)
    assert len(losses) == 30 and losses[-1] < losses[0] / 10
    with torch.no_grad():
        pred = heads(x).argmax(-1)  # (H, N)
    assert (pred == target).all()
    assert fit_heads_to_partition(heads, x, target, epochs=0, temperature=0.1, seed=0) == []


def test_fit_heads_to_partition_refuses_bad_labels(blobs):
    feats, _, _ = blobs
    heads = MultiHeadMLP(12, 3, n_heads=1, hidden_dim=8, bottleneck_dim=4, seed=0)
    with pytest.raises(ConfigError, match=r"partition labels must be in \[0, 3\), got \[0, 3\]"):
        fit_heads_to_partition(heads, torch.as_tensor(feats), torch.arange(90) % 4, epochs=1, temperature=0.1,
                               seed=0)


TINY = ["clusters=3", "head.n_heads=2", "head.hidden_dim=16", "head.bottleneck_dim=8", "optim.epochs=3",
        "optim.batch_size=30", "optim.warmup_epochs=1", "loss.teacher_temp_warmup_epochs=1", "knn=5",
        "accelerator=cpu"]


def test_train_temi_with_spectral_init_records_it(tmp_path, blobs):
    feats, nbrs, labels = blobs
    cfg = load_config(overrides=[*TINY, "head.init=spectral", "head.init_epochs=60"])
    out = train_temi(cfg, feats, nbrs, tmp_path / "run")
    init = out["head_init"]
    assert init["method"] == "spectral" and init["epochs"] == 60 and len(init["losses"]) == 60
    assert sorted(init["partition_sizes"]) == [30, 30, 30]
    assert init["head_agreement"] == [1.0, 1.0]  # both heads reproduce the partition before TEMI starts
    assert init["graph_knn"] == 20  # the spectral reference's graph, whatever N and K
    clusters, _ = load_assignments(tmp_path / "run")
    assert hungarian_accuracy(labels, clusters) == 1.0  # three short TEMI epochs keep the blobs


def test_random_init_has_no_init_record(tmp_path, blobs):
    feats, nbrs, _ = blobs
    out = train_temi(load_config(overrides=TINY), feats, nbrs, tmp_path / "run")
    assert "head_init" not in out


def test_init_setting_is_checked():
    with pytest.raises(ConfigError, match="head.init must be one of random, spectral, got 'kmeans'"):
        load_config(overrides=["clusters=3", "head.init=kmeans"])
