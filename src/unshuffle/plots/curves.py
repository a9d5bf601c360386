"""Training curves of one run, read from its metrics.jsonl, as a PNG (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unshuffle.plots.figure import save_png


def plot_training_curves(records: list[dict], out: str | Path, title: str = "TEMI training") -> Path:
    """Four panels: mean and per-head loss, selection loss, learning rate and teacher temperature,
    entropy of the selected head's cluster prior. ``records`` are metrics.jsonl lines (one per epoch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        raise ValueError("no metrics records to plot")
    ep = np.array([r["epoch"] for r in records])
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    ax = axes[0, 0]
    heads = np.array([r["head_losses"] for r in records])
    ax.plot(ep, heads, color="0.75", lw=0.8)
    ax.plot(ep, [r["loss"] for r in records], color="C0", lw=2, label="mean over heads")
    ax.set(title="training loss per head", xlabel="epoch", ylabel="loss")
    ax.legend()
    ax = axes[0, 1]
    sel = [np.nan if r.get("select_loss") is None else r["select_loss"] for r in records]
    ax.plot(ep, sel, color="C3", marker=".")
    ax.set(title="selected head (label-free), after warm-up", xlabel="epoch", ylabel="loss")
    ax = axes[1, 0]
    ax.plot(ep, [r["lr"] for r in records], color="C2", label="learning rate")
    ax.set(xlabel="epoch", ylabel="learning rate", title="schedules")
    ax2 = ax.twinx()
    ax2.plot(ep, [r["teacher_temp"] for r in records], color="C1", ls="--", label="teacher temperature")
    ax2.set_ylabel("teacher temperature")
    ax.legend(loc="upper left")
    ax2.legend(loc="lower right")
    ax = axes[1, 1]
    ax.plot(ep, [r["prior_entropy"] for r in records], color="C4")
    ax.set(title="entropy of p(k), selected head (nats)", xlabel="epoch", ylabel="entropy")
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, out, dpi=100)
