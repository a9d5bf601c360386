"""Start TEMI heads from a spectral clustering of the kNN graph (label-free warm start for small collections).

On 1,000-2,000 images TEMI from random heads ended below k-means (results/clustering.md), while
spectral clustering on the kNN graph of the same features is above it. ``head.init=spectral`` fits
every student head to the spectral partition with cross-entropy (the student's softmax at its own
temperature) for ``head.init_epochs`` epochs before TEMI training starts, so TEMI refines a good
partition instead of finding one from scratch. The partition comes from the features alone
(:func:`unshuffle.clustering.spectral.spectral_labels`); no labels are read.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from unshuffle.clustering.heads import MultiHeadMLP
from unshuffle.errors import ConfigError


def graph_neighbours(n_images: int, clusters: int) -> int:
    """Neighbours of the spectral kNN graph: ``spectral.DEFAULT_KNN`` (20, chosen on the train splits for
    every N and K), fewer than N: the same graph as the report's spectral reference
    (``pipeline.evaluate_run``). ``clusters`` does not change it (kept so callers need not know)."""
    from unshuffle.clustering.spectral import DEFAULT_KNN

    del clusters
    return max(1, min(DEFAULT_KNN, n_images - 1))


def spectral_partition(feats: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    """Spectral clustering of ``feats`` (N, D) float32 into ``clusters``; (N,) int64 labels in [0, K)."""
    from unshuffle.clustering.spectral import spectral_labels

    return spectral_labels(feats, clusters, knn=graph_neighbours(len(feats), clusters), seed=seed)


def fit_heads_to_partition(heads: MultiHeadMLP, feats: torch.Tensor, partition: torch.Tensor, *, epochs: int,
                           temperature: float, seed: int, batch_size: int = 256, lr: float = 1e-3) -> list[float]:
    """Train every head of ``heads`` to predict ``partition`` with cross-entropy; returns the mean loss per epoch.

    Args:
        heads: the student heads (changed in place; feature statistics already set).
        feats: (N, D) float32; partition: (N,) int64 in [0, K), K = ``heads.n_clusters``.
        epochs: passes over the images (0: nothing is done); temperature: the student temperature
            (logits are divided by it, as in the TEMI loss); seed: batch order.
    """
    if feats.ndim != 2 or partition.shape != (feats.shape[0],):
        raise ConfigError(f"need feats (N, D) and a partition (N,), got {tuple(feats.shape)} and "
                          f"{tuple(partition.shape)}")
    if partition.min() < 0 or partition.max() >= heads.n_clusters:
        raise ConfigError(f"partition labels must be in [0, {heads.n_clusters}), got "
                          f"[{int(partition.min())}, {int(partition.max())}]")
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam([p for p in heads.parameters() if p.requires_grad], lr=lr)
    n, h = feats.shape[0], heads.n_heads
    losses = []
    heads.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            logits = heads(feats[idx]) / temperature  # (H, B, K)
            loss = F.cross_entropy(logits.reshape(-1, heads.n_clusters), partition[idx].repeat(h))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
    return losses


def spectral_init(heads: MultiHeadMLP, feats: torch.Tensor, *, epochs: int, temperature: float,
                  seed: int) -> dict:
    """Spectral partition of ``feats`` (N, D) float32, then :func:`fit_heads_to_partition`; returns
    what was done (graph neighbours, cluster sizes of the partition, losses, agreement of each head's
    argmax with the partition afterwards), for the run's summary."""
    import time

    t0 = time.perf_counter()
    part = spectral_partition(feats.numpy(), heads.n_clusters, seed)
    target = torch.as_tensor(part, dtype=torch.long)
    losses = fit_heads_to_partition(heads, feats, target, epochs=epochs, temperature=temperature, seed=seed)
    with torch.no_grad():
        agree = (heads(feats).argmax(-1) == target).float().mean(1)
    return {"method": "spectral", "graph_knn": graph_neighbours(len(feats), heads.n_clusters), "epochs": epochs,
            "partition_sizes": np.bincount(part, minlength=heads.n_clusters).tolist(),
            "losses": [round(v, 5) for v in losses], "head_agreement": [round(float(a), 4) for a in agree],
            "seconds": round(time.perf_counter() - t0, 2)}
