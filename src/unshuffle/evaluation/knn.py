"""Leave-one-out cosine k-nearest-neighbour classifier: a supervised reference for the features."""

from __future__ import annotations

import numpy as np
import torch


def knn_loo_accuracy(feats: np.ndarray, labels: np.ndarray, k: int = 20, chunk: int = 2048) -> float:
    """Accuracy of predicting each label from its ``k`` most cosine-similar other images.

    Args:
        feats: (N, D) float32; labels: (N,) int64. Each image votes out itself; ties between classes go
        to the class with the larger summed similarity. Higher is better; it uses labels, so it is a
        reference for what the features allow, not a clustering result.
    """
    x = torch.nn.functional.normalize(torch.as_tensor(np.asarray(feats), dtype=torch.float32), dim=1)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    n = x.shape[0]
    if y.shape != (n,):
        raise ValueError(f"labels must be ({n},), got {tuple(y.shape)}")
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, {n - 1}], got {k}")
    n_cls = int(y.max()) + 1
    correct = 0
    for start in range(0, n, chunk):
        sim = x[start : start + chunk] @ x.T  # (c, N)
        rows = torch.arange(sim.shape[0])
        sim[rows, rows + start] = -float("inf")  # leave the image itself out
        top_sim, top_idx = sim.topk(k, dim=1)
        votes = torch.zeros(sim.shape[0], n_cls)
        votes.scatter_add_(1, y[top_idx], torch.ones_like(top_sim))
        tie_break = torch.zeros(sim.shape[0], n_cls).scatter_add_(1, y[top_idx], top_sim)
        pred = (votes + 1e-3 * tie_break / k).argmax(1)
        correct += int((pred == y[start : start + chunk]).sum())
    return correct / n
